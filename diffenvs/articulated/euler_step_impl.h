/* The body of euler_step.c for one floating-point type: REAL is the type, FN(name) appends its
 * suffix. Included once per type by euler_step.c; see there for the layout of the arguments.
 *
 * The algorithms are the recursive forms of those diffenvs/articulated/dynamics.py writes in
 * batched matrix form (the same quantities, the same conventions):
 *   kinematics down the tree; motion axes S_k about the base origin o; body velocities
 *   V_b = V_parent + S_h(b) qd_h(b); spatial inertias about o; composite inertias up the tree;
 *   M[k][l] = S_l . (Ic_body(k) S_k) for dofs l that move body(k), mirrored, plus armature;
 *   bias forces by Newton-Euler at zero joint acceleration, gravity as the base's fictitious
 *   acceleration; soft foot contact with friction anchors; joint damping and the contact
 *   dampers implicit (M + h (D + J^T C J)); a Cholesky solve; semi-implicit Euler.
 */

typedef struct {
    int nb, nh, nf, nv;
    const int *parent;        /* (nb) parent body, -1 for the base */
    const int *hinge_of_body; /* (nb) file-order hinge index of body b (b >= 1) */
    const int *dof_body;      /* (nv) body each dof moves directly (0 for the base's six) */
    const int *foot_body;     /* (nf) */
    const unsigned char *anc; /* (nb x nv) 1 when dof k moves body b */
    const REAL *body_pos, *body_rot, *mass, *com, *inertia, *axis, *k1, *k2;
    const REAL *damping, *armature, *foot_pos, *foot_radius, *kp, *kv, *force_limit, *gravity;
} FN(Model);

static REAL FN(softplus)(REAL x) {
    /* torch.nn.functional.softplus (beta 1, threshold 20) */
    return x > (REAL)20 ? x : log1p(exp(x));
}

static REAL FN(sigmoid)(REAL x) { return (REAL)1 / ((REAL)1 + exp(-x)); }

/* d softplus / dx as torch's softplus backward computes it (1 above the threshold) */
static REAL FN(softplus_slope)(REAL x) { return x > (REAL)20 ? (REAL)1 : FN(sigmoid)(x); }

static void FN(matmul3)(const REAL *a, const REAL *b, REAL *o) {
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) o[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
}

static void FN(matvec3)(const REAL *a, const REAL *v, REAL *o) {
    for (int i = 0; i < 3; i++) o[i] = a[3 * i] * v[0] + a[3 * i + 1] * v[1] + a[3 * i + 2] * v[2];
}

static void FN(cross)(const REAL *a, const REAL *b, REAL *o) {
    o[0] = a[1] * b[2] - a[2] * b[1];
    o[1] = a[2] * b[0] - a[0] * b[2];
    o[2] = a[0] * b[1] - a[1] * b[0];
}

/* o = I v for a 6x6 spatial inertia (row-major) */
static void FN(mat6vec)(const REAL *A, const REAL *v, REAL *o) {
    for (int i = 0; i < 6; i++) {
        REAL s = 0;
        for (int j = 0; j < 6; j++) s += A[6 * i + j] * v[j];
        o[i] = s;
    }
}

static REAL FN(dot6)(const REAL *a, const REAL *b) {
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3] + a[4] * b[4] + a[5] * b[5];
}

/* v x s (motion): (w x s_w, w x s_v + v_o x s_w) */
static void FN(motion_cross)(const REAL *v, const REAL *s, REAL *o) {
    REAL a[3], b[3];
    FN(cross)(v, s, o);
    FN(cross)(v, s + 3, a);
    FN(cross)(v + 3, s, b);
    for (int i = 0; i < 3; i++) o[3 + i] = a[i] + b[i];
}

/* v x* f (force): (w x n + v_o x f, w x f) */
static void FN(force_cross)(const REAL *v, const REAL *f, REAL *o) {
    REAL a[3], b[3];
    FN(cross)(v, f, a);
    FN(cross)(v + 3, f + 3, b);
    for (int i = 0; i < 3; i++) o[i] = a[i] + b[i];
    FN(cross)(v, f + 3, o + 3);
}

/* Forward kinematics: body rotations R (nb x 9, body -> world) and origins pos (nb x 3) of q, the
 * base's rotation as rotations.quat_to_rotmat writes it. */
static void FN(kinematics)(const FN(Model) *m, const REAL *q, REAL (*R)[9], REAL (*pos)[3]) {
    const int nb = m->nb;
    {
        const REAL w = q[3], x = q[4], y = q[5], z = q[6];
        const REAL xx = x * x, yy = y * y, zz = z * z, xy = x * y, xz = x * z, yz = y * z;
        const REAL wx = w * x, wy = w * y, wz = w * z;
        REAL half[9] = {yy + zz, xy - wz, xz + wy, xy + wz, xx + zz, yz - wx, xz - wy, yz + wx, xx + yy};
        static const REAL sign[9] = {-1, 1, 1, 1, -1, 1, 1, 1, -1}, eye[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
        for (int i = 0; i < 9; i++) R[0][i] = eye[i] + sign[i] * (half[i] + half[i]);
        for (int i = 0; i < 3; i++) pos[0][i] = q[i];
    }
    for (int b = 1; b < nb; b++) {
        const int p = m->parent[b];
        const REAL angle = q[7 + m->hinge_of_body[b]], s = sin(angle), c = cos(angle);
        REAL E[9], rel[9], r[3];
        for (int i = 0; i < 9; i++)
            E[i] = (i % 4 == 0 ? (REAL)1 : (REAL)0) + s * m->k1[9 * b + i] + ((REAL)1 - c) * m->k2[9 * b + i];
        FN(matmul3)(m->body_rot + 9 * b, E, rel);
        FN(matmul3)(R[p], rel, R[b]);
        FN(matvec3)(R[p], m->body_pos + 3 * b, r);
        for (int i = 0; i < 3; i++) pos[b][i] = pos[p][i] + r[i];
    }
}

/* The foot's contact quantities (ContactParams, in C[]: k, c, eps, eps_f, mu, k_t, c_t, s, 1 - s). */
typedef struct {
    REAL p[3], r[3], v[3], depth, arg, gate, normal, trial[2], cap, n2, ratio, scale, force[3], damp[3];
} FN(Foot);
#define FOOT_SIZE (sizeof(FN(Foot)) / sizeof(REAL)) /* (its members are all REAL) */

/* The intermediates of one substep that its reverse pass reads, laid out in one array of
 * work_size(nb, nv, nf) numbers (articulated_euler keeps them in its tape when asked to). */
typedef struct {
    REAL *R, *pos, *S, *V, *Isp, *Ic, *acc, *F, *M, *f;
    FN(Foot) *ft;
} FN(Work);

static long FN(work_size)(int nb, int nv, int nf) {
    return 102L * nb + 7L * nv + (long)nv * nv + (long)nf * (long)FOOT_SIZE;
}

static FN(Work) FN(work_at)(int nb, int nv, REAL *w) {
    FN(Work) o;
    o.R = w; w += 9 * nb;
    o.pos = w; w += 3 * nb;
    o.S = w; w += 6 * nv;
    o.V = w; w += 6 * nb;
    o.Isp = w; w += 36 * nb;
    o.Ic = w; w += 36 * nb;
    o.acc = w; w += 6 * nb;
    o.F = w; w += 6 * nb;
    o.M = w; w += nv * nv;
    o.f = w; w += nv;
    o.ft = (FN(Foot) *)w;
    return o;
}

/* x = (L L^T)^-1 x in place, L the lower triangle of L (its diagonal included). */
static void FN(cholesky_solve)(int nv, const REAL L[nv][nv], REAL *x) {
    for (int i = 0; i < nv; i++) {
        REAL s = x[i];
        for (int k = 0; k < i; k++) s -= L[i][k] * x[k];
        x[i] = s / L[i][i];
    }
    for (int i = nv - 1; i >= 0; i--) {
        REAL s = x[i];
        for (int k = i + 1; k < nv; k++) s -= L[k][i] * x[k];
        x[i] = s / L[i][i];
    }
}

/* Contact of foot i (its body's rotation R, origin pos and velocity V, the base origin o, its
 * anchor an[2]) as ContactParams and contact_forces define it. */
static void FN(foot)(const FN(Model) *m, const REAL *C, int i, const REAL *R, const REAL *pos, const REAL *V,
                     const REAL *o, const REAL *an, FN(Foot) *ft) {
    REAL wr[3];
    FN(matvec3)(R, m->foot_pos + 3 * i, ft->p);
    for (int d = 0; d < 3; d++) { ft->p[d] += pos[d]; ft->r[d] = ft->p[d] - o[d]; }
    FN(cross)(V, ft->r, wr);
    for (int d = 0; d < 3; d++) ft->v[d] = V[3 + d] + wr[d];
    ft->depth = m->foot_radius[i] - ft->p[2];
    ft->arg = (C[0] * ft->depth - C[1] * ft->v[2]) / C[3];
    ft->gate = FN(sigmoid)(ft->depth / C[2]);
    ft->normal = ft->gate * C[3] * FN(softplus)(ft->arg);
    for (int d = 0; d < 2; d++) ft->trial[d] = -C[5] * (ft->p[d] - an[d]) - C[6] * ft->v[d];
    REAL cap = C[4] * ft->normal;
    if (!(cap >= (REAL)1e-6)) cap = cap != cap ? cap : (REAL)1e-6;
    REAL n2 = ft->trial[0] * ft->trial[0] + ft->trial[1] * ft->trial[1];
    if (!(n2 >= (REAL)1e-30)) n2 = n2 != n2 ? n2 : (REAL)1e-30;
    ft->cap = cap;
    ft->n2 = n2;
    ft->ratio = sqrt(n2) / cap;
    const REAL over = ft->ratio < C[7] ? C[7] : ft->ratio;
    ft->scale = ft->ratio < C[7] ? (REAL)1 : (C[7] + C[8] * tanh((over - C[7]) / C[8])) / over;
    for (int d = 0; d < 2; d++) ft->force[d] = ft->trial[d] * ft->scale;
    ft->force[2] = ft->normal;
    ft->damp[0] = ft->damp[1] = C[6] * ft->scale;
    ft->damp[2] = C[1] * ft->gate * FN(sigmoid)(ft->arg);
}

/* J (3 x nv): d(velocity of the point r from the base origin, on body b)/d(qvel). */
static void FN(point_jacobian)(const FN(Model) *m, int nv, const REAL S[][6], int b, const REAL *r, REAL J[3][nv]) {
    for (int k = 0; k < nv; k++) {
        if (!m->anc[b * nv + k]) { J[0][k] = J[1][k] = J[2][k] = 0; continue; }
        REAL wxr[3];
        FN(cross)(S[k], r, wxr);
        for (int d = 0; d < 3; d++) J[d][k] = S[k][3 + d] + wxr[d];
    }
}

/* One semi-implicit Euler step of one robot, in place: q (7 + nh), qd (nv), anchor (nf x 2);
 * tau (nh) the hinge torques; writes the feet's normal forces to fn (nf). Returns 0, or 1 when
 * the mass matrix was not positive definite (qd and q are then NaN). The caller's arrays (sized
 * nb = m->nb, nv = m->nv) receive the intermediates that the reverse pass reads: body rotations,
 * origins, dof axes, body velocities, spatial and composite inertias, velocity-product
 * accelerations, subtree forces, the Cholesky factor (M's lower triangle) and the accelerations (f). */
static int FN(substep)(const FN(Model) *m, const REAL *C, REAL h, const REAL *tau, REAL *q, REAL *qd,
                       REAL *anchor, REAL *fn, int nb, int nv, REAL R[nb][9], REAL pos[nb][3], REAL S[nv][6],
                       REAL V[nb][6], REAL Isp[nb][36], REAL Ic[nb][36], REAL acc[nb][6], REAL F[nb][6],
                       REAL M[nv][nv], REAL f[nv], FN(Foot) *fts) {
    const int nf = m->nf;
    FN(kinematics)(m, q, R, pos);
    /* motion axes about o = the base origin */
    for (int k = 0; k < 6; k++)
        for (int i = 0; i < 6; i++) S[k][i] = 0;
    for (int k = 0; k < 3; k++) {
        S[k][3 + k] = 1;
        for (int i = 0; i < 3; i++) S[3 + k][i] = R[0][3 * i + k];
    }
    for (int b = 1; b < nb; b++) {
        const int k = 6 + m->hinge_of_body[b];
        REAL r[3];
        FN(matvec3)(R[b], m->axis + 3 * b, S[k]);
        for (int i = 0; i < 3; i++) r[i] = pos[b][i] - pos[0][i];
        FN(cross)(r, S[k], S[k] + 3);
    }
    /* velocities */
    for (int i = 0; i < 6; i++) {
        REAL s = 0;
        for (int k = 0; k < 6; k++) s += S[k][i] * qd[k];
        V[0][i] = s;
    }
    for (int b = 1; b < nb; b++) {
        const int k = 6 + m->hinge_of_body[b], p = m->parent[b];
        for (int i = 0; i < 6; i++) V[b][i] = V[p][i] + S[k][i] * qd[k];
    }
    /* spatial inertias about o: [[R Ic R^T + m(|c|^2 1 - c c^T), m [c]x], [-m [c]x, m 1]] */
    for (int b = 0; b < nb; b++) {
        REAL c[3], t[9], rot[9], mb = m->mass[b];
        FN(matvec3)(R[b], m->com + 3 * b, c);
        for (int i = 0; i < 3; i++) c[i] += pos[b][i] - pos[0][i];
        FN(matmul3)(R[b], m->inertia + 9 * b, t);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                rot[3 * i + j] = t[3 * i] * R[b][3 * j] + t[3 * i + 1] * R[b][3 * j + 1] + t[3 * i + 2] * R[b][3 * j + 2];
        const REAL cc = c[0] * c[0] + c[1] * c[1] + c[2] * c[2];
        const REAL cx[9] = {0, -c[2], c[1], c[2], 0, -c[0], -c[1], c[0], 0};
        REAL *Ib = Isp[b];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                Ib[6 * i + j] = rot[3 * i + j] + mb * ((i == j ? cc : (REAL)0) - c[i] * c[j]);
                Ib[6 * i + 3 + j] = mb * cx[3 * i + j];
                Ib[6 * (3 + i) + j] = -(mb * cx[3 * i + j]);
                Ib[6 * (3 + i) + 3 + j] = i == j ? mb : (REAL)0;
            }
    }
    /* composite inertias, mass matrix */
    for (int b = 0; b < nb; b++)
        for (int i = 0; i < 36; i++) Ic[b][i] = Isp[b][i];
    for (int b = nb - 1; b > 0; b--)
        for (int i = 0; i < 36; i++) Ic[m->parent[b]][i] += Ic[b][i];
    for (int k = 0; k < nv; k++)
        for (int l = 0; l < nv; l++) M[k][l] = 0;
    for (int k = 0; k < nv; k++) {
        const int bk = m->dof_body[k];
        REAL fk[6];
        FN(mat6vec)(Ic[bk], S[k], fk);
        for (int l = 0; l < nv; l++) {
            if (!m->anc[bk * nv + l]) continue;
            M[k][l] = FN(dot6)(fk, S[l]);
            if (m->dof_body[l] != bk) M[l][k] = M[k][l];
        }
    }
    /* bias forces: velocity-product accelerations down the tree, forces up it */
    {
        REAL wv[3];
        FN(cross)(V[0], qd, wv);
        for (int i = 0; i < 3; i++) { acc[0][i] = 0; acc[0][3 + i] = -wv[i] - m->gravity[i]; }
    }
    for (int b = 1; b < nb; b++) {
        const int k = 6 + m->hinge_of_body[b], p = m->parent[b];
        REAL t[6];
        FN(motion_cross)(V[p], S[k], t);
        for (int i = 0; i < 6; i++) acc[b][i] = acc[p][i] + t[i] * qd[k];
    }
    for (int b = 0; b < nb; b++) {
        REAL ia[6], iv[6], x[6];
        FN(mat6vec)(Isp[b], acc[b], ia);
        FN(mat6vec)(Isp[b], V[b], iv);
        FN(force_cross)(V[b], iv, x);
        for (int i = 0; i < 6; i++) F[b][i] = ia[i] + x[i];
    }
    for (int b = nb - 1; b > 0; b--)
        for (int i = 0; i < 6; i++) F[m->parent[b]][i] += F[b][i];
    for (int k = 0; k < nv; k++) {
        f[k] = -FN(dot6)(F[m->dof_body[k]], S[k]) - m->damping[k] * qd[k];
        if (k >= 6) f[k] += tau[k - 6];
        M[k][k] += m->armature[k] + h * m->damping[k];
    }
    /* foot contact, its dampers implicit */
    for (int i = 0; i < nf; i++) {
        const int b = m->foot_body[i];
        const FN(Foot) *ft = fts + i;
        REAL J[3][nv], rf[3];
        FN(foot)(m, C, i, R[b], pos[b], V[b], pos[0], anchor + 2 * i, fts + i);
        for (int d = 0; d < 2; d++) anchor[2 * i + d] = ft->p[d] + (ft->force[d] + C[6] * ft->v[d]) / C[5];
        fn[i] = ft->normal;
        FN(cross)(ft->r, ft->force, rf);
        FN(point_jacobian)(m, nv, (const REAL (*)[6])S, b, ft->r, J);
        for (int k = 0; k < nv; k++) {
            if (!m->anc[b * nv + k]) continue;
            f[k] += S[k][0] * rf[0] + S[k][1] * rf[1] + S[k][2] * rf[2]
                    + S[k][3] * ft->force[0] + S[k][4] * ft->force[1] + S[k][5] * ft->force[2];
            for (int l = 0; l < nv; l++) {
                if (!m->anc[b * nv + l]) continue;
                M[k][l] += h * (J[0][k] * ft->damp[0] * J[0][l] + J[1][k] * ft->damp[1] * J[1][l]
                                + J[2][k] * ft->damp[2] * J[2][l]);
            }
        }
    }
    /* Cholesky solve M qdd = f (in place: L in M's lower triangle) */
    int bad = 0;
    for (int j = 0; j < nv && !bad; j++) {
        REAL d = M[j][j];
        for (int k = 0; k < j; k++) d -= M[j][k] * M[j][k];
        if (!(d > 0)) { bad = 1; break; }
        d = sqrt(d);
        M[j][j] = d;
        for (int i = j + 1; i < nv; i++) {
            REAL s = M[i][j];
            for (int k = 0; k < j; k++) s -= M[i][k] * M[j][k];
            M[i][j] = s / d;
        }
    }
    if (bad) {
        const REAL nan = (REAL)NAN;
        for (int k = 0; k < nv; k++) qd[k] = nan;
        for (int k = 0; k < 7 + m->nh; k++) q[k] = nan;
        return 1;
    }
    FN(cholesky_solve)(nv, (const REAL (*)[nv])M, f);
    /* semi-implicit Euler: velocities, then positions (the quaternion by exp(w h / 2)) */
    for (int k = 0; k < nv; k++) qd[k] += h * f[k];
    for (int i = 0; i < 3; i++) q[i] += h * qd[i];
    {
        const REAL hh = C[9];
        REAL half[3] = {hh * qd[3], hh * qd[4], hh * qd[5]};
        REAL a2 = half[0] * half[0] + half[1] * half[1] + half[2] * half[2];
        if (!(a2 >= (REAL)1e-30)) a2 = a2 != a2 ? a2 : (REAL)1e-30;
        const REAL angle = sqrt(a2), sa = sin(angle) / angle;
        const REAL t0 = cos(angle), t1 = sa * half[0], t2 = sa * half[1], t3 = sa * half[2];
        const REAL w = q[3], x = q[4], y = q[5], z = q[6];
        REAL o[4] = {w * t0 - (x * t1 + y * t2 + z * t3),
                     w * t1 + t0 * x + (y * t3 - z * t2),
                     w * t2 + t0 * y + (z * t1 - x * t3),
                     w * t3 + t0 * z + (x * t2 - y * t1)};
        const REAL norm = sqrt(o[0] * o[0] + o[1] * o[1] + o[2] * o[2] + o[3] * o[3]);
        for (int i = 0; i < 4; i++) q[3 + i] = o[i] / norm;
    }
    for (int j = 0; j < m->nh; j++) q[7 + j] += h * qd[6 + j];
    return 0;
}

/* The state (q, qd, anchors) into t. */
static void FN(save_state)(int nq, int nv, int nf, const REAL *q, const REAL *qd, const REAL *an, REAL *t) {
    for (int i = 0; i < nq; i++) t[i] = q[i];
    for (int i = 0; i < nv; i++) t[nq + i] = qd[i];
    for (int i = 0; i < 2 * nf; i++) t[nq + nv + i] = an[i];
}

/* The hinge PD torques tau (nh) towards tg at (q, qd), limited to +-force_limit by smooth_clamp
 * of `width` (0: a hard clamp), as actuator_forces; with slope non-NULL also d tau / d(the
 * unlimited torque) there. */
static void FN(torques)(const FN(Model) *m, REAL width, const REAL *tg, const REAL *q, const REAL *qd, REAL *tau,
                        REAL *slope) {
    for (int j = 0; j < m->nh; j++) {
        const REAL t = m->kp[j] * (tg[j] - q[7 + j]) - m->kv[j] * qd[6 + j], L = m->force_limit[j];
        if (width == 0) {
            tau[j] = t > L ? L : (t < -L ? -L : t);
            if (slope) slope[j] = t > -L && t < L ? (REAL)1 : (REAL)0;
        } else {
            const REAL a = (t - L) / width, b = (-t - L) / width;
            tau[j] = t - width * FN(softplus)(a) + width * FN(softplus)(b);
            if (slope) slope[j] = (REAL)1 - FN(softplus_slope)(a) - FN(softplus_slope)(b);
        }
    }
}

/* The model's arrays in ints / reals / anc (layout: euler_step.c). */
static void FN(unpack)(FN(Model) *m, const int *ints, const REAL *reals, const unsigned char *anc) {
    m->nb = ints[0]; m->nh = ints[1]; m->nf = ints[2]; m->nv = 6 + m->nh;
    m->parent = ints + 3;
    m->hinge_of_body = m->parent + m->nb;
    m->dof_body = m->hinge_of_body + m->nb;
    m->foot_body = m->dof_body + m->nv;
    m->anc = anc;
    const REAL *x = reals;
    m->body_pos = x; x += 3 * m->nb;
    m->body_rot = x; x += 9 * m->nb;
    m->mass = x; x += m->nb;
    m->com = x; x += 3 * m->nb;
    m->inertia = x; x += 9 * m->nb;
    m->axis = x; x += 3 * m->nb;
    m->k1 = x; x += 9 * m->nb;
    m->k2 = x; x += 9 * m->nb;
    m->damping = x; x += m->nv;
    m->armature = x; x += m->nv;
    m->foot_pos = x; x += 3 * m->nf;
    m->foot_radius = x; x += m->nf;
    m->kp = x; x += m->nh;
    m->kv = x; x += m->nh;
    m->force_limit = x; x += m->nh;
    m->gravity = x;
}

/* n robots, each `substeps` steps under the hinge PD targets `target` (row stride st):
 * qpos (7 + nh, stride sq), qvel (nv, stride sv), anchor (nf x 2, stride sa) in; the same
 * out (each output with its own row stride: qo/so, vo/svo, ao/sao) and the feet's normal
 * forces of the last substep (fo, stride sfo). C: the contact constants, then h / 2 (C[9]),
 * h (C[10]), the torque limit's smoothing width (C[11], 0: a hard clamp). With tape non-NULL
 * (row stride stp), each robot's state (qpos, qvel, anchor) before each substep is recorded there
 * for articulated_euler_vjp, and with keep also each substep's intermediates (work_size numbers
 * after its state) and the state after the last substep: a row of substeps * (ns + work_size) + ns
 * numbers, ns = nq + nv + 2 nf (substeps * ns without keep). */

void FN(articulated_euler)(long n, const int *ints, const REAL *reals, const unsigned char *anc, const REAL *C,
                           int substeps, const REAL *qpos, long sq, const REAL *qvel, long sv,
                           const REAL *anchor, long sa, const REAL *target, long st,
                           REAL *qo, long so, REAL *vo, long svo, REAL *ao, long sao, REAL *fo, long sfo,
                           REAL *tape, long stp, int keep) {
    FN(Model) m;
    FN(unpack)(&m, ints, reals, anc);
    const REAL h = C[10], width = C[11];
    const int nb = m.nb, nh = m.nh, nq = 7 + nh, nv = m.nv, nf = m.nf;
    const long ns = nq + nv + 2 * nf, block = ns + (keep ? FN(work_size)(nb, nv, nf) : 0);
    for (long r = 0; r < n; r++) {
        REAL q[nq], qd[nv], an[2 * nf + 1], fn[nf + 1], tau[nh];
        REAL R[nb][9], pos[nb][3], S[nv][6], V[nb][6], Isp[nb][36], Ic[nb][36], acc[nb][6], F[nb][6], M[nv][nv], f[nv];
        FN(Foot) fts[nf];
        for (int i = 0; i < nq; i++) q[i] = qpos[r * sq + i];
        for (int i = 0; i < nv; i++) qd[i] = qvel[r * sv + i];
        for (int i = 0; i < 2 * nf; i++) an[i] = anchor[r * sa + i];
        const REAL *tg = target + r * st;
        for (int s = 0; s < substeps; s++) {
            FN(torques)(&m, width, tg, q, qd, tau, NULL);
            REAL *t = tape ? tape + r * stp + (long)s * block : NULL;
            if (t) FN(save_state)(nq, nv, nf, q, qd, an, t);
            if (t && keep) {
                const FN(Work) w = FN(work_at)(nb, nv, t + ns);
                FN(substep)(&m, C, h, tau, q, qd, an, fn, nb, nv, (REAL (*)[9])w.R, (REAL (*)[3])w.pos,
                            (REAL (*)[6])w.S, (REAL (*)[6])w.V, (REAL (*)[36])w.Isp, (REAL (*)[36])w.Ic,
                            (REAL (*)[6])w.acc, (REAL (*)[6])w.F, (REAL (*)[nv])w.M, w.f, w.ft);
            } else {
                FN(substep)(&m, C, h, tau, q, qd, an, fn, nb, nv, R, pos, S, V, Isp, Ic, acc, F, M, f, fts);
            }
        }
        if (tape && keep) FN(save_state)(nq, nv, nf, q, qd, an, tape + r * stp + (long)substeps * block);
        for (int i = 0; i < nq; i++) qo[r * so + i] = q[i];
        for (int i = 0; i < nv; i++) vo[r * svo + i] = qd[i];
        for (int i = 0; i < 2 * nf; i++) ao[r * sao + i] = an[i];
        for (int i = 0; i < nf; i++) fo[r * sfo + i] = fn[i];
    }
}

/* The world positions (nf x 3, row stride so) of the foot sphere centres of n robots at qpos
 * (stride sq). */
void FN(articulated_feet)(long n, const int *ints, const REAL *reals, const unsigned char *anc,
                          const REAL *qpos, long sq, REAL *out, long so) {
    FN(Model) m;
    FN(unpack)(&m, ints, reals, anc);
    const int nb = m.nb;
    for (long r = 0; r < n; r++) {
        REAL R[nb][9], pos[nb][3];
        FN(kinematics)(&m, qpos + r * sq, R, pos);
        for (int i = 0; i < m.nf; i++) {
            const int b = m.foot_body[i];
            REAL p[3];
            FN(matvec3)(R[b], m.foot_pos + 3 * i, p);
            for (int d = 0; d < 3; d++) out[r * so + 3 * i + d] = pos[b][d] + p[d];
        }
    }
}

#include "euler_vjp_impl.h"
