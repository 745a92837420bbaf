/* The body of nearest_hits.c for one floating-point type: REAL is the type, FN(name) appends its
 * suffix. See nearest_hits.c for what it computes and the layout of the arguments. */

/* torch.maximum / torch.minimum: NaN if either is NaN */
static REAL FN(maxp)(REAL a, REAL b) { return (a != a || b != b) ? a + b : (a > b ? a : b); }
static REAL FN(minp)(REAL a, REAL b) { return (a != a || b != b) ? a + b : (a < b ? a : b); }
/* Tensor.clamp(min=lo): NaN stays NaN */
static REAL FN(floor_at)(REAL x, REAL lo) { return x < lo ? lo : x; }

void FN(nearest_hits)(long n, long nr, int shared, const REAL *o, const REAL *d,
                      long kc, const REAL *cyl_xy, const REAL *cyl_r, const REAL *cyl_z, const unsigned char *cyl_ok,
                      long ks, const REAL *sph_c, const REAL *sph_r, const unsigned char *sph_ok,
                      long kb, const REAL *box_lo, const REAL *box_hi, const unsigned char *box_ok,
                      const unsigned char *ground, const REAL *cst, REAL *best_out, long long *kind_out,
                      long long *index_out) {
    const REAL tiny = cst[0], tiny_a = cst[1], eps_dir = cst[2], big = cst[3], max_distance = cst[4];
    const REAL inf = (REAL)INFINITY;
    const int bounded = cst[5] != 0;
    for (long e = 0; e < n; e++) {
        for (long r = 0; r < nr; r++) {
            const REAL *oo = o + 3 * (shared ? e : e * nr + r), *dd = d + 3 * (e * nr + r);
            REAL inv[3];
            for (int k = 0; k < 3; k++) {
                const REAL x = dd[k];
                inv[k] = (REAL)1 / (fabs(x) < eps_dir ? copysign(eps_dir, x) : x);
            }
            REAL best = inf;
            long long kind = -1, index = -1;
            /* cylinders (KIND_CYLINDER 0) */
            if (kc > 0) {
                REAL tmin = inf;
                long long arg = -1;
                const REAL dx = dd[0], dy = dd[1];
                const REAL a = FN(floor_at)(dx * dx + dy * dy, tiny_a), inv_a = (REAL)1 / a;
                for (long j = 0; j < kc; j++) {
                    const long q = e * kc + j;
                    const REAL ox = oo[0] - cyl_xy[2 * q], oy = oo[1] - cyl_xy[2 * q + 1], rad = cyl_r[q];
                    const REAL b = ox * dx + oy * dy, c = ox * ox + oy * oy - rad * rad;
                    const REAL disc = b * b - a * c, s = sqrt(FN(floor_at)(disc, tiny));
                    const REAL z0 = (cyl_z[2 * q] - oo[2]) * inv[2], z1 = (cyl_z[2 * q + 1] - oo[2]) * inv[2];
                    const REAL enter = FN(maxp)((-b - s) * inv_a, FN(minp)(z0, z1));
                    const REAL exit_ = FN(minp)((s - b) * inv_a, FN(maxp)(z0, z1));
                    const REAL t = FN(floor_at)(enter, 0);
                    const REAL tt = (disc > 0 && exit_ > t && cyl_ok[q]) ? t : inf;
                    if (arg < 0 || tt < tmin) { tmin = tt; arg = j; }  /* (tt is never NaN: a NaN t fails exit > t) */
                }
                if (tmin < best) { best = tmin; kind = 0; index = arg; }
            }
            /* spheres (KIND_SPHERE 1) */
            if (ks > 0) {
                REAL tmin = inf;
                long long arg = -1;
                for (long j = 0; j < ks; j++) {
                    const long q = e * ks + j;
                    const REAL ox = oo[0] - sph_c[3 * q], oy = oo[1] - sph_c[3 * q + 1], oz = oo[2] - sph_c[3 * q + 2];
                    const REAL rad = sph_r[q];
                    const REAL b = ox * dd[0] + oy * dd[1] + oz * dd[2];
                    const REAL c = ox * ox + oy * oy + oz * oz - rad * rad;
                    const REAL disc = b * b - c, s = sqrt(FN(floor_at)(disc, tiny));
                    const REAL enter = -b - s, exit_ = -b + s;
                    const REAL t = FN(floor_at)(enter, 0);
                    const REAL tt = (disc > 0 && exit_ > t && sph_ok[q]) ? t : inf;
                    if (arg < 0 || tt < tmin) { tmin = tt; arg = j; }  /* (tt is never NaN: a NaN t fails exit > t) */
                }
                if (tmin < best) { best = tmin; kind = 1; index = arg; }
            }
            /* axis-aligned boxes (KIND_BOX 2) */
            if (kb > 0) {
                REAL tmin = inf;
                long long arg = -1;
                for (long j = 0; j < kb; j++) {
                    const long q = e * kb + j;
                    REAL lo3[3], hi3[3];
                    for (int k = 0; k < 3; k++) {
                        const REAL t0 = (box_lo[3 * q + k] - oo[k]) * inv[k], t1 = (box_hi[3 * q + k] - oo[k]) * inv[k];
                        lo3[k] = FN(minp)(t0, t1);
                        hi3[k] = FN(maxp)(t0, t1);
                    }
                    const REAL enter = FN(maxp)(FN(maxp)(lo3[0], lo3[1]), lo3[2]);
                    const REAL exit_ = FN(minp)(FN(minp)(hi3[0], hi3[1]), hi3[2]);
                    const REAL t = FN(floor_at)(enter, 0);
                    const REAL tt = (exit_ > t && box_ok[q]) ? t : inf;
                    if (arg < 0 || tt < tmin) { tmin = tt; arg = j; }  /* (tt is never NaN: a NaN t fails exit > t) */
                }
                if (tmin < best) { best = tmin; kind = 2; index = arg; }
            }
            /* the ground, z <= 0 (KIND_GROUND 3) */
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
