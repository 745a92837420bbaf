/* The body of nearest_hits.c for one floating-point type: REAL is the type, FN(name) appends its
 * suffix. See nearest_hits.c for what it computes and the layout of the arguments. */

/* torch.maximum / torch.minimum: NaN if either is NaN */
static REAL FN(maxp)(REAL a, REAL b) { return (a != a || b != b) ? a + b : (a > b ? a : b); }
static REAL FN(minp)(REAL a, REAL b) { return (a != a || b != b) ? a + b : (a < b ? a : b); }
/* Tensor.clamp(min=lo): NaN stays NaN */
static REAL FN(floor_at)(REAL x, REAL lo) { return x < lo ? lo : x; }

/* The interval [enter, exit] of the ray o + t d inside obstacle q of a kind (as depth_camera.py's
 * _cylinder_interval, _sphere_interval, _box_interval); returns whether the line meets it. */
static int FN(cylinder)(const REAL *o, const REAL *d, const REAL *inv, REAL a, REAL inv_a, const REAL *xy,
                        REAL rad, const REAL *z, REAL tiny, REAL *enter, REAL *exit_) {
    const REAL ox = o[0] - xy[0], oy = o[1] - xy[1];
    const REAL b = ox * d[0] + oy * d[1], c = ox * ox + oy * oy - rad * rad;
    const REAL disc = b * b - a * c, s = sqrt(FN(floor_at)(disc, tiny));
    const REAL z0 = (z[0] - o[2]) * inv[2], z1 = (z[1] - o[2]) * inv[2];
    *enter = FN(maxp)((-b - s) * inv_a, FN(minp)(z0, z1));
    *exit_ = FN(minp)((s - b) * inv_a, FN(maxp)(z0, z1));
    return disc > 0;
}

static int FN(sphere)(const REAL *o, const REAL *d, const REAL *center, REAL rad, REAL tiny, REAL *enter,
                      REAL *exit_) {
    const REAL ox = o[0] - center[0], oy = o[1] - center[1], oz = o[2] - center[2];
    const REAL b = ox * d[0] + oy * d[1] + oz * d[2];
    const REAL c = ox * ox + oy * oy + oz * oz - rad * rad;
    const REAL disc = b * b - c, s = sqrt(FN(floor_at)(disc, tiny));
    *enter = -b - s;
    *exit_ = -b + s;
    return disc > 0;
}

static int FN(box)(const REAL *o, const REAL *inv, const REAL *lo, const REAL *hi, REAL *enter, REAL *exit_) {
    REAL lo3[3], hi3[3];
    for (int k = 0; k < 3; k++) {
        const REAL t0 = (lo[k] - o[k]) * inv[k], t1 = (hi[k] - o[k]) * inv[k];
        lo3[k] = FN(minp)(t0, t1);
        hi3[k] = FN(maxp)(t0, t1);
    }
    *enter = FN(maxp)(FN(maxp)(lo3[0], lo3[1]), lo3[2]);
    *exit_ = FN(minp)(FN(minp)(hi3[0], hi3[1]), hi3[2]);
    return 1;
}

void FN(nearest_hits)(long n, long nr, int shared, const REAL *o, const REAL *d,
                      long kc, const REAL *cyl_xy, const REAL *cyl_r, const REAL *cyl_z, const unsigned char *cyl_ok,
                      long ks, const REAL *sph_c, const REAL *sph_r, const unsigned char *sph_ok,
                      long kb, const REAL *box_lo, const REAL *box_hi, const unsigned char *box_ok,
                      const unsigned char *ground, const REAL *cst, REAL *best_out, long long *kind_out,
                      long long *index_out) {
    const REAL tiny = cst[0], tiny_a = cst[1], eps_dir = cst[2], big = cst[3], max_distance = cst[4];
    const REAL inf = (REAL)INFINITY;
    const int bounded = cst[5] != 0;
    const long count[3] = {kc, ks, kb};
    const unsigned char *valid[3] = {cyl_ok, sph_ok, box_ok};
    for (long e = 0; e < n; e++) {
        for (long r = 0; r < nr; r++) {
            const REAL *oo = o + 3 * (shared ? e : e * nr + r), *dd = d + 3 * (e * nr + r);
            REAL inv[3];
            for (int k = 0; k < 3; k++) {
                const REAL x = dd[k];
                inv[k] = (REAL)1 / (fabs(x) < eps_dir ? copysign(eps_dir, x) : x);
            }
            const REAL a = FN(floor_at)(dd[0] * dd[0] + dd[1] * dd[1], tiny_a), inv_a = (REAL)1 / a;
            REAL best = inf;
            long long kind = -1, index = -1;
            /* cylinders, spheres, boxes (kinds 0, 1, 2) in turn: each kind's nearest, then the nearer */
            for (int kd = 0; kd < 3; kd++) {
                if (count[kd] == 0) continue;
                REAL tmin = inf;
                long long arg = -1;
                for (long j = 0; j < count[kd]; j++) {
                    const long q = e * count[kd] + j;
                    REAL enter, exit_;
                    const int meets = kd == 0 ? FN(cylinder)(oo, dd, inv, a, inv_a, cyl_xy + 2 * q, cyl_r[q],
                                                             cyl_z + 2 * q, tiny, &enter, &exit_)
                                    : kd == 1 ? FN(sphere)(oo, dd, sph_c + 3 * q, sph_r[q], tiny, &enter, &exit_)
                                              : FN(box)(oo, inv, box_lo + 3 * q, box_hi + 3 * q, &enter, &exit_);
                    const REAL t = FN(floor_at)(enter, 0);
                    const REAL tt = (meets && exit_ > t && valid[kd][q]) ? t : inf;
                    if (arg < 0 || tt < tmin) { tmin = tt; arg = j; }  /* (tt is never NaN: a NaN t fails exit > t) */
                }
                if (tmin < best) { best = tmin; kind = kd; index = arg; }
            }
            /* the ground, z <= 0 (kind 3) */
            {
                const REAL t_g = -oo[2] * inv[2];
                const int down = inv[2] < 0;
                const REAL enter = down ? t_g : -big, exit_ = down ? big : t_g;
                const REAL t = FN(floor_at)(enter, 0);
                if (exit_ > t && ground[e] && t < best) { best = t; kind = 3; index = 0; }
            }
            if (bounded && best > max_distance) { best = inf; kind = -1; index = -1; }
            best_out[e * nr + r] = best;
            kind_out[e * nr + r] = kind;
            index_out[e * nr + r] = index;
        }
    }
}

/* _first_hit for one interval: the entry max(s0, 0) when the ray meets the solid ahead, else +inf */
static REAL FN(ahead)(REAL s0, REAL s1) {
    const REAL t = FN(floor_at)(s0, 0);
    return s1 > t ? t : (REAL)INFINITY;
}

/* _z_window for one interval and one pixel: [s0, s1] narrowed to heights [z0, z1] of a ray at height
 * cz + m s (inv_m = 1 / m) */
static void FN(z_window)(REAL *s0, REAL *s1, REAL z0, REAL z1, REAL cz, REAL inv_m) {
    const REAL za = (z0 - cz) * inv_m, zb = (z1 - cz) * inv_m;
    *s0 = FN(maxp)(*s0, FN(minp)(za, zb));
    *s1 = FN(minp)(*s1, FN(maxp)(za, zb));
}

/* One kind's candidate s for a pixel: with ids, the nearer (s < best) replaces the best so far and its
 * kind and slot (_update); without, the NaN-propagating minimum (torch.minimum). */
static void FN(offer)(int ids, REAL s, long long kd, long long slot, REAL *best, long long *kind, long long *index) {
    if (!ids) { *best = FN(minp)(*best, s); return; }
    if (s < *best) { *best = s; *kind = kd; *index = slot; }
}

/* The first stage of a level camera's rays (_level_hits, then _within): for each of n envs, an H x W image
 * from the origin o (n x 3) whose columns look along col (W x 2 unit horizontal directions; col_step: the
 * elements between envs, 0 when shared), pixel (h, w) at slope m = slope[h W + w], with inv_slope, inv_norm
 * (1 / |d_xy|) and inv_dz (1 / d_z) per pixel (ray_step elements between envs, 0 when shared). The world
 * arrays are as nearest_hits'; unbounded: every cylinder spans all heights (one solve per column). Each
 * primitive is intersected in the plane of each column, in units of horizontal distance s, with the same
 * operations as there. A column's pixels look only at the solids the column's plane can meet: a footprint
 * the column's line misses (or meets behind the camera) stays missed in every height window, and a sphere
 * whose centre is farther from the plane than its radius (with a margin far above rounding) is missed by
 * every pixel, as the tensors find it (those give +inf; the nearest keeps the first slot of the minimum).
 * kind and index are written only with ids. Outputs n x (H W). */
void FN(level_hits)(long n, long hh, long ww, int ids, int unbounded, const REAL *o, const REAL *col, long col_step,
                    const REAL *slope, const REAL *inv_slope, const REAL *inv_norm, const REAL *inv_dz, long ray_step,
                    long kc, const REAL *cyl_xy, const REAL *cyl_r, const REAL *cyl_z, const unsigned char *cyl_ok,
                    long ks, const REAL *sph_c, const REAL *sph_r, const unsigned char *sph_ok,
                    long kb, const REAL *box_lo, const REAL *box_hi, const unsigned char *box_ok,
                    const unsigned char *ground, const REAL *cst, REAL *best_out, long long *kind_out,
                    long long *index_out) {
    const REAL eps_dir = cst[2], big = cst[3], max_distance = cst[4];
    const REAL inf = (REAL)INFINITY;
    const int bounded = cst[5] != 0;
    const long nr = hh * ww;
    /* per env: each solid's c (+inf for padding); per column: the candidates' slots and intervals */
    REAL cyl_c[kc > 0 ? kc : 1], sph_cc[ks > 0 ? ks : 1], sph_margin[ks > 0 ? ks : 1];
    REAL cs0[kc > 0 ? kc : 1], cs1[kc > 0 ? kc : 1], sa[ks > 0 ? ks : 1], bs0[kb > 0 ? kb : 1], bs1[kb > 0 ? kb : 1];
    long cyl_j[kc > 0 ? kc : 1], sph_j[ks > 0 ? ks : 1], box_j[kb > 0 ? kb : 1];
    for (long e = 0; e < n; e++) {
        const REAL *oe = o + 3 * e, *ce = col + e * col_step;
        const REAL *sl = slope + e * ray_step, *isl = inv_slope + e * ray_step;
        const REAL *inn = inv_norm + e * ray_step, *idz = inv_dz + e * ray_step;
        const REAL ox = oe[0], oy = oe[1], cz = oe[2];
        for (long j = 0; j < kc; j++) {
            const long q = e * kc + j;
            const REAL ax = cyl_xy[2 * q] - ox, ay = cyl_xy[2 * q + 1] - oy;
            cyl_c[j] = cyl_ok[q] ? (ax * ax + ay * ay) - cyl_r[q] * cyl_r[q] : inf;
        }
        for (long j = 0; j < ks; j++) {
            const long q = e * ks + j;
            const REAL ax = sph_c[3 * q] - ox, ay = sph_c[3 * q + 1] - oy, az = sph_c[3 * q + 2] - cz;
            const REAL r2 = sph_r[q] * sph_r[q], oc2 = ax * ax + ay * ay + az * az;
            sph_cc[j] = sph_ok[q] ? oc2 - r2 : inf;
            sph_margin[j] = r2 + (REAL)1e-4 * (oc2 + r2);
        }
        for (long w = 0; w < ww; w++) {
            const REAL ux = ce[2 * w], uy = ce[2 * w + 1];
            /* cylinders: the axis's distance b along the column, the half chord sq (0 where the line misses) */
            REAL col_best = inf;
            long long col_slot = 0;
            long nc = 0, ns = 0, nb = 0;
            for (long j = 0; j < kc; j++) {
                const long q = e * kc + j;
                const REAL b = (cyl_xy[2 * q] - ox) * ux + (cyl_xy[2 * q + 1] - oy) * uy;
                const REAL sq = sqrt(FN(floor_at)(b * b - cyl_c[j], 0));
                const REAL t = FN(ahead)(b - sq, b + sq);
                if (t == inf) continue;  /* (a NaN b gives +inf too) */
                if (unbounded) {
                    if (t < col_best) { col_best = t; col_slot = j; }
                } else {
                    cs0[nc] = b - sq; cs1[nc] = b + sq; cyl_j[nc++] = j;
                }
            }
            for (long j = 0; j < ks; j++) {
                const long q = e * ks + j;
                if (!sph_ok[q]) continue;
                const REAL ax = sph_c[3 * q] - ox, ay = sph_c[3 * q + 1] - oy;
                const REAL a = ax * ux + ay * uy;
                if (ax * ax + ay * ay - a * a > sph_margin[j]) continue;  /* the plane misses the sphere */
                sa[ns] = a; sph_j[ns++] = j;
            }
            if (kb) {
                const REAL iu[2] = {(REAL)1 / (fabs(ux) < eps_dir ? copysign(eps_dir, ux) : ux),
                                    (REAL)1 / (fabs(uy) < eps_dir ? copysign(eps_dir, uy) : uy)};
                for (long j = 0; j < kb; j++) {
                    const long q = e * kb + j;
                    if (!box_ok[q]) continue;
                    REAL nr_[2], fr_[2];
                    for (int k = 0; k < 2; k++) {
                        const REAL lo = (box_lo[3 * q + k] - (k ? oy : ox)) * iu[k];
                        const REAL hi = (box_hi[3 * q + k] - (k ? oy : ox)) * iu[k];
                        nr_[k] = FN(minp)(lo, hi);
                        fr_[k] = FN(maxp)(lo, hi);
                    }
                    const REAL s0 = FN(maxp)(nr_[0], nr_[1]), s1 = FN(minp)(fr_[0], fr_[1]);
                    if (FN(ahead)(s0, s1) == inf) continue;
                    bs0[nb] = s0; bs1[nb] = s1; box_j[nb++] = j;
                }
            }
            for (long h = 0; h < hh; h++) {
                const long r = h * ww + w;
                REAL best = inf;
                long long kind = -1, index = -1;
                /* the ground first without ids (torch.where(ground, t, inf), then minima), last with them */
                const REAL t_g = -cz * idz[r];
                const int down = idz[r] < 0;
                const REAL g_enter = down ? t_g : -big, g_exit = down ? big : t_g;
                const REAL g_t = FN(floor_at)(g_enter, 0);
                const int g_hit = g_exit > g_t && ground[e];
                if (!ids) best = g_hit ? g_t : inf;
                if (kc) {
                    REAL s = col_best;
                    long long slot = col_slot;
                    if (!unbounded) {
                        s = inf;
                        slot = 0;
                        for (long i = 0; i < nc; i++) {
                            const long q = e * kc + cyl_j[i];
                            REAL s0 = cs0[i], s1 = cs1[i];
                            FN(z_window)(&s0, &s1, cyl_z[2 * q], cyl_z[2 * q + 1], cz, isl[r]);
                            const REAL t = FN(ahead)(s0, s1);
                            if (t < s) { s = t; slot = cyl_j[i]; }
                        }
                    }
                    FN(offer)(ids, s * inn[r], 0, slot, &best, &kind, &index);
                }
                if (ks) {
                    const REAL m = sl[r], aa = (REAL)1 + m * m;
                    REAL s = inf;
                    long long slot = 0;
                    for (long i = 0; i < ns; i++) {
                        const long j = sph_j[i], q = e * ks + j;
                        const REAL bb = sa[i] + m * (sph_c[3 * q + 2] - cz);
                        const REAL sq = sqrt(FN(floor_at)(aa * -sph_cc[j] + bb * bb, 0));
                        const REAL t = FN(ahead)(bb - sq, bb + sq);
                        if (t < s) { s = t; slot = j; }
                    }
                    FN(offer)(ids, s * (inn[r] / aa), 1, slot, &best, &kind, &index);
                }
                if (kb) {
                    REAL s = inf;
                    long long slot = 0;
                    for (long i = 0; i < nb; i++) {
                        const long q = e * kb + box_j[i];
                        REAL s0 = bs0[i], s1 = bs1[i];
                        FN(z_window)(&s0, &s1, box_lo[3 * q + 2], box_hi[3 * q + 2], cz, isl[r]);
                        const REAL t = FN(ahead)(s0, s1);
                        if (t < s) { s = t; slot = box_j[i]; }
                    }
                    FN(offer)(ids, s * inn[r], 2, slot, &best, &kind, &index);
                }
                if (ids && g_hit && g_t < best) { best = g_t; kind = 3; index = 0; }
                if (bounded && best > max_distance) { best = inf; kind = -1; index = -1; }
                best_out[e * nr + r] = best;
                if (ids) { kind_out[e * nr + r] = kind; index_out[e * nr + r] = index; }
            }
        }
    }
}
