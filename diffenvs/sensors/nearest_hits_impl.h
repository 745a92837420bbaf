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
