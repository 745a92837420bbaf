/* Reverse mode (vector-Jacobian products) of euler_step_impl.h's control step and foot positions,
 * for one floating-point type; included at the end of euler_step_impl.h.
 *
 * The backward pass of a control step takes each substep's intermediates from the forward call's
 * record (the tape), or recomputes them from the state recorded before the substep, and then walks
 * its operations backwards: the Euler update and the base quaternion's turn, the Cholesky solve,
 * the foot contact (including its implicit dampers in the matrix), the Newton-Euler bias forces,
 * the composite-rigid-body mass matrix, the spatial inertias, the body velocities, the dof axes
 * and the forward kinematics. Each derivative is the derivative of the operation the forward
 * pass computes (the same branches, clamps and torch's softplus slope), so the result equals
 * autograd through diffenvs/articulated/dynamics.py to float rounding.
 *
 * Notation: gX is the gradient of the loss with respect to X.
 */

/* a x b with gradient g of the result: ga += b x g, gb += g x a */
static void FN(cross_vjp)(const REAL *a, const REAL *b, const REAL *g, REAL *ga, REAL *gb) {
    REAL t[3];
    if (ga) { FN(cross)(b, g, t); for (int i = 0; i < 3; i++) ga[i] += t[i]; }
    if (gb) { FN(cross)(g, a, t); for (int i = 0; i < 3; i++) gb[i] += t[i]; }
}

/* o = A v (6 x 6): gA += go v^T, gv += A^T go */
static void FN(mat6vec_vjp)(const REAL *A, const REAL *v, const REAL *go, REAL *gA, REAL *gv) {
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            gA[6 * i + j] += go[i] * v[j];
            gv[j] += A[6 * i + j] * go[i];
        }
}

/* o = A v (3 x 3): gA += go v^T (gv not needed: v is a model constant) */
static void FN(outer3_add)(const REAL *go, const REAL *v, REAL *gA) {
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) gA[3 * i + j] += go[i] * v[j];
}

/* Gradient of the step's foot i (body b, intermediates ft) into the state's intermediates. In: gf
 * (of the force vector the foot adds to; the matrix's gradient is gM = -gf qdd^T, used in that
 * factored form), qdd (the accelerations), ga (2, of its new anchor), gn (of its normal force).
 * Adds to gR, gpos (of its body and the base), gV (its body), gS; writes gan (2, of its old
 * anchor). */
static void FN(foot_vjp)(const FN(Model) *m, const REAL *C, REAL h, int i, int nv, const FN(Foot) *ft,
                         const REAL S[][6], const REAL *V, const REAL *gf, const REAL *qdd,
                         const REAL *ga, REAL gn, REAL *gR, REAL *gpos, REAL *gpos0, REAL *gV, REAL gS[][6],
                         REAL *gan) {
    const int b = m->foot_body[i];
    REAL J[3][nv], gdamp[3], rf[3], grf[3] = {0, 0, 0}, gforce[3] = {0, 0, 0};
    REAL gp[3] = {0, 0, 0}, gr[3] = {0, 0, 0}, gv[3] = {0, 0, 0}, xJ[3] = {0, 0, 0}, aJ[3] = {0, 0, 0};
    FN(point_jacobian)(m, nv, S, b, ft->r, J);
    FN(cross)(ft->r, ft->force, rf);
    /* M[k][l] += h sum_d J[d][k] damp[d] J[d][l] (J is zero off the foot's dofs): with gM = -x a^T
     * (x = gf, a = qdd), sum_l (gM[k][l] + gM[l][k]) J[d][l] = -(x_k a.J_d + a_k x.J_d) and
     * sum_kl gM[k][l] J[d][k] J[d][l] = -(x.J_d)(a.J_d) */
    for (int k = 0; k < nv; k++)
        for (int d = 0; d < 3; d++) {
            xJ[d] += gf[k] * J[d][k];
            aJ[d] += qdd[k] * J[d][k];
        }
    for (int d = 0; d < 3; d++) gdamp[d] = -h * xJ[d] * aJ[d];
    /* and f[k] += S_k . (r x force, force) */
    for (int k = 0; k < nv; k++) {
        if (!m->anc[b * nv + k]) continue;
        for (int d = 0; d < 3; d++) {
            gS[k][d] += gf[k] * rf[d];
            grf[d] += gf[k] * S[k][d];
            gS[k][3 + d] += gf[k] * ft->force[d];
            gforce[d] += gf[k] * S[k][3 + d];
        }
    }
    /* J[d][k] = S_k,lin + S_k,ang x r */
    for (int k = 0; k < nv; k++) {
        if (!m->anc[b * nv + k]) continue;
        REAL gj[3];
        for (int d = 0; d < 3; d++) gj[d] = -h * ft->damp[d] * (gf[k] * aJ[d] + qdd[k] * xJ[d]);
        for (int d = 0; d < 3; d++) gS[k][3 + d] += gj[d];
        FN(cross_vjp)(S[k], ft->r, gj, gS[k], gr);
    }
    FN(cross_vjp)(ft->r, ft->force, grf, gr, gforce);
    /* the new anchor p_xy + (force_xy + c_t v_xy) / k_t */
    for (int d = 0; d < 2; d++) {
        gp[d] += ga[d];
        gforce[d] += ga[d] / C[5];
        gv[d] += C[6] * ga[d] / C[5];
    }
    /* the friction cone: force_xy = trial scale, dampers c_t scale and c gate sigmoid(arg) */
    REAL gnormal = gforce[2] + gn, gscale = C[6] * (gdamp[0] + gdamp[1]), ggate = 0, garg = 0, gtrial[2];
    for (int d = 0; d < 2; d++) {
        gscale += gforce[d] * ft->trial[d];
        gtrial[d] = gforce[d] * ft->scale;
    }
    {
        const REAL sg = FN(sigmoid)(ft->arg);
        ggate += C[1] * sg * gdamp[2];
        garg += C[1] * ft->gate * sg * ((REAL)1 - sg) * gdamp[2];
    }
    if (!(ft->ratio < C[7])) {
        const REAL th = tanh((ft->ratio - C[7]) / C[8]);
        const REAL gratio = gscale * (((REAL)1 - th * th) - ft->scale) / ft->ratio;
        const REAL n2 = ft->trial[0] * ft->trial[0] + ft->trial[1] * ft->trial[1];
        if (n2 >= (REAL)1e-30) {
            const REAL k = gratio / (ft->cap * sqrt(ft->n2));
            for (int d = 0; d < 2; d++) gtrial[d] += k * ft->trial[d];
        }
        if (C[4] * ft->normal >= (REAL)1e-6) gnormal += C[4] * (-gratio * ft->ratio / ft->cap);
    }
    /* trial = -k_t (p_xy - anchor) - c_t v_xy */
    for (int d = 0; d < 2; d++) {
        gp[d] -= C[5] * gtrial[d];
        gan[d] = C[5] * gtrial[d];
        gv[d] -= C[6] * gtrial[d];
    }
    /* normal = gate eps_f softplus(arg), gate = sigmoid(depth / eps), arg = (k depth - c vz) / eps_f */
    ggate += C[3] * FN(softplus)(ft->arg) * gnormal;
    garg += ft->gate * C[3] * FN(softplus_slope)(ft->arg) * gnormal;
    const REAL gdepth = ggate * ft->gate * ((REAL)1 - ft->gate) / C[2] + C[0] / C[3] * garg;
    gv[2] -= C[1] / C[3] * garg;
    gp[2] -= gdepth;
    /* v = V_lin + V_ang x r, r = p - o, p = R foot_pos + pos */
    for (int d = 0; d < 3; d++) gV[3 + d] += gv[d];
    FN(cross_vjp)(V, ft->r, gv, gV, gr);
    for (int d = 0; d < 3; d++) {
        gp[d] += gr[d];
        gpos0[d] -= gr[d];
        gpos[d] += gp[d];
    }
    FN(outer3_add)(gp, m->foot_pos + 3 * i, gR);
}

/* Reverse of kinematics at q (R its body rotations): adds to gq (7 + nh) the gradient of q from
 * those of the body rotations gR and origins gpos (both modified: each parent's gathers its
 * children's on the way up). */
static void FN(kinematics_vjp)(const FN(Model) *m, const REAL *q0, const REAL R[][9], REAL gR[][9], REAL gpos[][3],
                               REAL *gq) {
    const int nb = m->nb;
    /* R_b = R_p body_rot E(angle), pos_b = pos_p + R_p body_pos */
    for (int b = nb - 1; b > 0; b--) {
        const int p = m->parent[b];
        const REAL angle = q0[7 + m->hinge_of_body[b]], s = sin(angle), c = cos(angle);
        const REAL *k1 = m->k1 + 9 * b, *k2 = m->k2 + 9 * b, *br = m->body_rot + 9 * b;
        REAL E[9], rel[9], grel[9], gangle = 0;
        for (int i = 0; i < 9; i++) E[i] = (i % 4 == 0 ? (REAL)1 : (REAL)0) + s * k1[i] + ((REAL)1 - c) * k2[i];
        FN(matmul3)(br, E, rel);
        for (int i = 0; i < 3; i++) gpos[p][i] += gpos[b][i];
        FN(outer3_add)(gpos[b], m->body_pos + 3 * b, gR[p]);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                REAL a = 0, e = 0;
                for (int l = 0; l < 3; l++) {
                    a += gR[b][3 * i + l] * rel[3 * j + l]; /* gR_p += gR_b rel^T */
                    e += R[p][3 * l + i] * gR[b][3 * l + j]; /* grel = R_p^T gR_b */
                }
                gR[p][3 * i + j] += a;
                grel[3 * i + j] = e;
            }
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                REAL gE = 0; /* gE = body_rot^T grel */
                for (int l = 0; l < 3; l++) gE += br[3 * l + i] * grel[3 * l + j];
                gangle += gE * (c * k1[3 * i + j] + s * k2[3 * i + j]);
            }
        gq[7 + m->hinge_of_body[b]] += gangle;
    }
    for (int i = 0; i < 3; i++) gq[i] += gpos[0][i];
    {
        const REAL *G = gR[0], w = q0[3], xx = q0[4], y = q0[5], z = q0[6];
        gq[3] += 2 * (-z * G[1] + y * G[2] + z * G[3] - xx * G[5] - y * G[6] + xx * G[7]);
        gq[4] += 2 * (y * G[1] + z * G[2] + y * G[3] - 2 * xx * G[4] - w * G[5] + z * G[6] + w * G[7] - 2 * xx * G[8]);
        gq[5] += 2 * (-2 * y * G[0] + xx * G[1] + w * G[2] + xx * G[3] + z * G[5] - w * G[6] + z * G[7] - 2 * y * G[8]);
        gq[6] += 2 * (-2 * z * G[0] - w * G[1] + xx * G[2] + w * G[3] - 2 * z * G[4] + y * G[5] + xx * G[6] + y * G[7]);
    }
}

/* Reverse of one substep. q0, qd0, an0, tau: the substep's inputs (not modified). In: gq (7 + nh),
 * gqd (nv), gan (nf x 2), the gradients of its outputs q', qd', anchor', and gfn (nf, of its
 * normal forces; NULL: none); out: the same three overwritten with the gradients of its inputs
 * q, qd, anchor, and gtau (nh). work: the substep's intermediates as the forward pass kept them
 * (work_at) and q1 its output state, or NULL: recomputed here. A robot whose mass matrix was not
 * positive definite gets NaN. */
static void FN(substep_vjp)(const FN(Model) *m, const REAL *C, REAL h, const REAL *tau, const REAL *q0,
                            const REAL *qd0, const REAL *an0, REAL *gq, REAL *gqd, REAL *gan, const REAL *gfn,
                            REAL *gtau, REAL *work, const REAL *q1) {
    const int nb = m->nb, nv = m->nv, nf = m->nf, nh = m->nh, nq = 7 + nh;
    REAL Rs[nb][9], poss[nb][3], Ss[nv][6], Vs[nb][6], Isps[nb][36], Ics[nb][36], accs[nb][6], Fs[nb][6];
    REAL Ms[nv][nv], fs[nv], qs[nq], qds[nv], an[2 * nf + 1], fn[nf + 1];
    FN(Foot) ftss[nf], *fts = ftss;
    REAL (*R)[9] = Rs, (*pos)[3] = poss, (*S)[6] = Ss, (*V)[6] = Vs, (*Isp)[36] = Isps, (*Ic)[36] = Ics;
    REAL (*acc)[6] = accs, (*F)[6] = Fs, (*M)[nv] = Ms, *f = fs;
    const REAL *q = qs, *qd = qds;
    int bad = 0;
    if (work) {
        const FN(Work) w = FN(work_at)(nb, nv, work);
        R = (REAL (*)[9])w.R; pos = (REAL (*)[3])w.pos; S = (REAL (*)[6])w.S; V = (REAL (*)[6])w.V;
        Isp = (REAL (*)[36])w.Isp; Ic = (REAL (*)[36])w.Ic; acc = (REAL (*)[6])w.acc; F = (REAL (*)[6])w.F;
        M = (REAL (*)[nv])w.M; f = w.f; fts = w.ft;
        q = q1;
        qd = q1 + nq;
        for (int k = 0; k < nv; k++) bad |= qd[k] != qd[k]; /* the forward pass set a failed robot to NaN */
    } else {
        for (int i = 0; i < nq; i++) qs[i] = q0[i];
        for (int i = 0; i < nv; i++) qds[i] = qd0[i];
        for (int i = 0; i < 2 * nf; i++) an[i] = an0[i];
        bad = FN(substep)(m, C, h, tau, qs, qds, an, fn, nb, nv, R, pos, S, V, Isp, Ic, acc, F, M, f, fts);
    }
    if (bad) {
        const REAL nan = (REAL)NAN;
        for (int i = 0; i < nq; i++) gq[i] = nan;
        for (int i = 0; i < nv; i++) gqd[i] = nan;
        for (int i = 0; i < 2 * nf; i++) gan[i] = nan;
        for (int j = 0; j < nh; j++) gtau[j] = nan;
        return;
    }
    /* q, qd: the outputs; f: the accelerations; M: L in its lower triangle */
    REAL gR[nb][9], gpos[nb][3], gS[nv][6], gV[nb][6], gIsp[nb][36], gacc[nb][6], gF[nb][6];
    REAL gqdn[nv], x[nv];
    for (int b = 0; b < nb; b++) {
        for (int i = 0; i < 9; i++) gR[b][i] = 0;
        for (int i = 0; i < 3; i++) gpos[b][i] = 0;
        for (int i = 0; i < 6; i++) gV[b][i] = gacc[b][i] = gF[b][i] = 0;
        for (int i = 0; i < 36; i++) gIsp[b][i] = 0;
    }
    for (int k = 0; k < nv; k++)
        for (int i = 0; i < 6; i++) gS[k][i] = 0;
    /* positions: q' = q + h qd' (the hinges and the base's position) */
    for (int k = 0; k < nv; k++) gqdn[k] = gqd[k];
    for (int i = 0; i < 3; i++) gqdn[i] += h * gq[i];
    for (int j = 0; j < nh; j++) gqdn[6 + j] += h * gq[7 + j];
    /* the quaternion: q' = normalize(q (x) (cos a, sin(a)/a half)), half = h/2 w', a = |half| */
    {
        const REAL hh = C[9];
        const REAL half[3] = {hh * qd[3], hh * qd[4], hh * qd[5]};
        REAL a2 = half[0] * half[0] + half[1] * half[1] + half[2] * half[2];
        const int clamped = !(a2 >= (REAL)1e-30);
        if (clamped) a2 = a2 != a2 ? a2 : (REAL)1e-30;
        const REAL angle = sqrt(a2), sa = sin(angle) / angle;
        const REAL t[4] = {cos(angle), sa * half[0], sa * half[1], sa * half[2]};
        const REAL w = q0[3], xx = q0[4], y = q0[5], z = q0[6];
        const REAL o[4] = {w * t[0] - (xx * t[1] + y * t[2] + z * t[3]),
                           w * t[1] + t[0] * xx + (y * t[3] - z * t[2]),
                           w * t[2] + t[0] * y + (z * t[1] - xx * t[3]),
                           w * t[3] + t[0] * z + (xx * t[2] - y * t[1])};
        const REAL norm = sqrt(o[0] * o[0] + o[1] * o[1] + o[2] * o[2] + o[3] * o[3]);
        const REAL *qn = q + 3, *g = gq + 3;
        const REAL dot = qn[0] * g[0] + qn[1] * g[1] + qn[2] * g[2] + qn[3] * g[3];
        REAL go[4], gt[4];
        for (int i = 0; i < 4; i++) go[i] = (g[i] - qn[i] * dot) / norm;
        gq[3] = go[0] * t[0] + go[1] * t[1] + go[2] * t[2] + go[3] * t[3];
        gq[4] = -go[0] * t[1] + go[1] * t[0] - go[2] * t[3] + go[3] * t[2];
        gq[5] = -go[0] * t[2] + go[1] * t[3] + go[2] * t[0] - go[3] * t[1];
        gq[6] = -go[0] * t[3] - go[1] * t[2] + go[2] * t[1] + go[3] * t[0];
        gt[0] = go[0] * w + go[1] * xx + go[2] * y + go[3] * z;
        gt[1] = -go[0] * xx + go[1] * w + go[2] * z - go[3] * y;
        gt[2] = -go[0] * y - go[1] * z + go[2] * w + go[3] * xx;
        gt[3] = -go[0] * z + go[1] * y - go[2] * xx + go[3] * w;
        const REAL gsa = gt[1] * half[0] + gt[2] * half[1] + gt[3] * half[2];
        const REAL dsa = angle < (REAL)1e-4 ? -angle / (REAL)3 : (angle * cos(angle) - sin(angle)) / (angle * angle);
        const REAL gangle = -sin(angle) * gt[0] + gsa * dsa;
        for (int i = 0; i < 3; i++) {
            const REAL ghalf = sa * gt[1 + i] + (clamped ? (REAL)0 : gangle * half[i] / angle);
            gqdn[3 + i] += hh * ghalf;
        }
    }
    /* velocities: qd' = qd + h qdd; the solve M qdd = f: gf = M^-1 gqdd, gM = -gf qdd^T (used in
     * this factored form below) */
    for (int k = 0; k < nv; k++) {
        gqd[k] = gqdn[k];
        x[k] = h * gqdn[k];
    }
    FN(cholesky_solve)(nv, (const REAL (*)[nv])M, x);
    /* the feet (their anchors' gradients overwrite gan) */
    for (int i = 0; i < nf; i++) {
        const int b = m->foot_body[i];
        const REAL ga[2] = {gan[2 * i], gan[2 * i + 1]};
        FN(foot_vjp)(m, C, h, i, nv, fts + i, (const REAL (*)[6])S, V[b], x, f, ga,
                     gfn ? gfn[i] : (REAL)0, gR[b], gpos[b], gpos[0], gV[b], gS, gan + 2 * i);
    }
    /* f = tau - (subtree force) . S - damping qd */
    for (int k = 0; k < nv; k++) {
        const int bk = m->dof_body[k];
        if (k >= 6) gtau[k - 6] = x[k];
        gqd[k] -= m->damping[k] * x[k];
        for (int i = 0; i < 6; i++) {
            gF[bk][i] -= x[k] * S[k][i];
            gS[k][i] -= x[k] * F[bk][i];
        }
    }
    for (int b = 1; b < nb; b++)
        for (int i = 0; i < 6; i++) gF[b][i] += gF[m->parent[b]][i];
    /* F_b = I_b acc_b + V_b x* (I_b V_b) */
    for (int b = 0; b < nb; b++) {
        REAL iv[6], giv[6] = {0, 0, 0, 0, 0, 0};
        const REAL *v = V[b], *g = gF[b];
        FN(mat6vec_vjp)(Isp[b], acc[b], g, gIsp[b], gacc[b]);
        FN(mat6vec)(Isp[b], v, iv);
        /* x = (w x n + v_o x f, w x f) for v = (w, v_o), iv = (n, f) */
        FN(cross_vjp)(v, iv, g, gV[b], giv);
        FN(cross_vjp)(v + 3, iv + 3, g, gV[b] + 3, giv + 3);
        FN(cross_vjp)(v, iv + 3, g + 3, gV[b], giv + 3);
        FN(mat6vec_vjp)(Isp[b], v, giv, gIsp[b], gV[b]);
    }
    /* acc_b = acc_parent + (V_parent x S_k) qd_k; acc_0 = (0, -(w x v) - g) */
    for (int b = nb - 1; b > 0; b--) {
        const int k = 6 + m->hinge_of_body[b], p = m->parent[b];
        REAL t[6], gt[6];
        FN(motion_cross)(V[p], S[k], t);
        for (int i = 0; i < 6; i++) {
            gacc[p][i] += gacc[b][i];
            gqd[k] += gacc[b][i] * t[i];
            gt[i] = gacc[b][i] * qd0[k];
        }
        /* t = (w x s_w, w x s_v + v_o x s_w) */
        FN(cross_vjp)(V[p], S[k], gt, gV[p], gS[k]);
        FN(cross_vjp)(V[p], S[k] + 3, gt + 3, gV[p], gS[k] + 3);
        FN(cross_vjp)(V[p] + 3, S[k], gt + 3, gV[p] + 3, gS[k]);
    }
    {
        const REAL g[3] = {-gacc[0][3], -gacc[0][4], -gacc[0][5]};
        FN(cross_vjp)(V[0], qd0, g, gV[0], gqd);
    }
    /* M[k][l] = S_l . (Ic_body(k) S_k) for the dofs l that move body(k), mirrored */
    {
        REAL gIc[nb][36];
        for (int b = 0; b < nb; b++)
            for (int i = 0; i < 36; i++) gIc[b][i] = 0;
        for (int k = 0; k < nv; k++) {
            const int bk = m->dof_body[k];
            REAL fk[6], gfk[6] = {0, 0, 0, 0, 0, 0};
            FN(mat6vec)(Ic[bk], S[k], fk);
            for (int l = 0; l < nv; l++) {
                if (!m->anc[bk * nv + l]) continue;
                const REAL g = -x[k] * f[l] - (m->dof_body[l] != bk ? x[l] * f[k] : (REAL)0); /* gM[k][l] (+ gM[l][k]) */
                for (int i = 0; i < 6; i++) {
                    gfk[i] += g * S[l][i];
                    gS[l][i] += g * fk[i];
                }
            }
            FN(mat6vec_vjp)(Ic[bk], S[k], gfk, gIc[bk], gS[k]);
        }
        for (int b = 1; b < nb; b++)
            for (int i = 0; i < 36; i++) gIc[b][i] += gIc[m->parent[b]][i];
        for (int b = 0; b < nb; b++)
            for (int i = 0; i < 36; i++) gIsp[b][i] += gIc[b][i];
    }
    /* spatial inertias: [[R I R^T + m(|c|^2 1 - c c^T), m [c]x], [-m [c]x, m 1]], c = R com + pos - o */
    for (int b = 0; b < nb; b++) {
        const REAL mb = m->mass[b], *g = gIsp[b], *In = m->inertia + 9 * b, *Rb = R[b];
        REAL c[3], gc[3], grot[9], gcx[9];
        FN(matvec3)(Rb, m->com + 3 * b, c);
        for (int i = 0; i < 3; i++) c[i] += pos[b][i] - pos[0][i];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                grot[3 * i + j] = g[6 * i + j];
                gcx[3 * i + j] = mb * (g[6 * i + 3 + j] - g[6 * (3 + i) + j]);
            }
        const REAL tr = grot[0] + grot[4] + grot[8];
        for (int i = 0; i < 3; i++) {
            REAL s = 0;
            for (int j = 0; j < 3; j++) s += (grot[3 * i + j] + grot[3 * j + i]) * c[j];
            gc[i] = mb * ((REAL)2 * tr * c[i] - s);
        }
        gc[0] += gcx[7] - gcx[5];
        gc[1] += gcx[2] - gcx[6];
        gc[2] += gcx[3] - gcx[1];
        /* R I R^T: gR += (G R) I^T + (G^T R) I */
        {
            REAL A[9], B[9];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) {
                    A[3 * i + j] = grot[3 * i] * Rb[j] + grot[3 * i + 1] * Rb[3 + j] + grot[3 * i + 2] * Rb[6 + j];
                    B[3 * i + j] = grot[i] * Rb[j] + grot[3 + i] * Rb[3 + j] + grot[6 + i] * Rb[6 + j];
                }
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) {
                    REAL s = 0;
                    for (int e = 0; e < 3; e++) s += A[3 * i + e] * In[3 * j + e] + B[3 * i + e] * In[3 * e + j];
                    gR[b][3 * i + j] += s;
                }
        }
        FN(outer3_add)(gc, m->com + 3 * b, gR[b]);
        for (int i = 0; i < 3; i++) {
            gpos[b][i] += gc[i];
            gpos[0][i] -= gc[i];
        }
    }
    /* velocities: V_b = V_parent + S_k qd_k, V_0 = sum over the base's dofs */
    for (int b = nb - 1; b > 0; b--) {
        const int k = 6 + m->hinge_of_body[b], p = m->parent[b];
        for (int i = 0; i < 6; i++) {
            gV[p][i] += gV[b][i];
            gS[k][i] += gV[b][i] * qd0[k];
            gqd[k] += gV[b][i] * S[k][i];
        }
    }
    for (int k = 0; k < 6; k++)
        for (int i = 0; i < 6; i++) {
            gS[k][i] += gV[0][i] * qd0[k];
            gqd[k] += gV[0][i] * S[k][i];
        }
    /* dof axes: the base's rotations are R_0's columns, a hinge's (u, r x u), u = R_b axis */
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 3; i++) gR[0][3 * i + k] += gS[3 + k][i];
    for (int b = 1; b < nb; b++) {
        const int k = 6 + m->hinge_of_body[b];
        REAL r[3], gr[3] = {0, 0, 0}, gu[3];
        for (int i = 0; i < 3; i++) { r[i] = pos[b][i] - pos[0][i]; gu[i] = gS[k][i]; }
        FN(cross_vjp)(r, S[k], gS[k] + 3, gr, gu);
        FN(outer3_add)(gu, m->axis + 3 * b, gR[b]);
        for (int i = 0; i < 3; i++) {
            gpos[b][i] += gr[i];
            gpos[0][i] -= gr[i];
        }
    }
    FN(kinematics_vjp)(m, q0, (const REAL (*)[9])R, gR, gpos, gq);
}

/* The vector-Jacobian product of articulated_euler for n robots: tape (row stride stp) as that
 * call recorded it, target (stride st) its PD targets; gq, gv, ga, gf (row strides sgq, sgv, sga,
 * sgf) the gradients of its outputs qpos, qvel, anchor, normal forces. Writes the gradients of its
 * inputs qpos, qvel, anchor, target to oq, ov, oa, ot (strides soq, sov, soa, sot). */
void FN(articulated_euler_vjp)(long n, const int *ints, const REAL *reals, const unsigned char *anc, const REAL *C,
                               int substeps, const REAL *tape, long stp, const REAL *target, long st,
                               const REAL *gq, long sgq, const REAL *gv, long sgv, const REAL *ga, long sga,
                               const REAL *gf, long sgf, REAL *oq, long soq, REAL *ov, long sov, REAL *oa, long soa,
                               REAL *ot, long sot, int keep) {
    FN(Model) m;
    FN(unpack)(&m, ints, reals, anc);
    const int nb = m.nb, nh = m.nh, nq = 7 + nh, nv = m.nv, nf = m.nf;
    const long ns = nq + nv + 2 * nf, block = ns + (keep ? FN(work_size)(nb, nv, nf) : 0); /* as articulated_euler's */
    const REAL h = C[10], width = C[11];
    for (long r = 0; r < n; r++) {
        REAL bq[nq], bv[nv], ba[2 * nf + 1], bt[nh], tau[nh], slope[nh], gtau[nh];
        for (int i = 0; i < nq; i++) bq[i] = gq[r * sgq + i];
        for (int i = 0; i < nv; i++) bv[i] = gv[r * sgv + i];
        for (int i = 0; i < 2 * nf; i++) ba[i] = ga[r * sga + i];
        for (int j = 0; j < nh; j++) bt[j] = 0;
        const REAL *tg = target + r * st;
        for (int s = substeps - 1; s >= 0; s--) {
            REAL *t = (REAL *)tape + r * stp + (long)s * block;
            const REAL *q0 = t, *qd0 = q0 + nq, *an0 = qd0 + nv;
            FN(torques)(&m, width, tg, q0, qd0, tau, slope);
            FN(substep_vjp)(&m, C, h, tau, q0, qd0, an0, bq, bv, ba, s == substeps - 1 ? gf + r * sgf : NULL, gtau,
                            keep ? t + ns : NULL, keep ? t + block : NULL);
            for (int j = 0; j < nh; j++) {
                const REAL g = gtau[j] * slope[j];
                bt[j] += m.kp[j] * g;
                bq[7 + j] -= m.kp[j] * g;
                bv[6 + j] -= m.kv[j] * g;
            }
        }
        for (int i = 0; i < nq; i++) oq[r * soq + i] = bq[i];
        for (int i = 0; i < nv; i++) ov[r * sov + i] = bv[i];
        for (int i = 0; i < 2 * nf; i++) oa[r * soa + i] = ba[i];
        for (int j = 0; j < nh; j++) ot[r * sot + j] = bt[j];
    }
}

/* The vector-Jacobian product of articulated_feet for n robots at qpos (row stride sq): go (nf x
 * 3, stride sgo) the gradients of the foot positions; writes that of qpos to oq (stride soq). */
void FN(articulated_feet_vjp)(long n, const int *ints, const REAL *reals, const unsigned char *anc,
                              const REAL *qpos, long sq, const REAL *go, long sgo, REAL *oq, long soq) {
    FN(Model) m;
    FN(unpack)(&m, ints, reals, anc);
    const int nb = m.nb, nq = 7 + m.nh;
    for (long r = 0; r < n; r++) {
        REAL R[nb][9], pos[nb][3], gR[nb][9], gpos[nb][3], gq[nq];
        const REAL *q = qpos + r * sq;
        FN(kinematics)(&m, q, R, pos);
        for (int b = 0; b < nb; b++) {
            for (int i = 0; i < 9; i++) gR[b][i] = 0;
            for (int i = 0; i < 3; i++) gpos[b][i] = 0;
        }
        for (int i = 0; i < nq; i++) gq[i] = 0;
        for (int i = 0; i < m.nf; i++) { /* p = pos_b + R_b foot_pos */
            const int b = m.foot_body[i];
            const REAL *g = go + r * sgo + 3 * i;
            for (int d = 0; d < 3; d++) gpos[b][d] += g[d];
            FN(outer3_add)(g, m.foot_pos + 3 * i, gR[b]);
        }
        FN(kinematics_vjp)(&m, q, (const REAL (*)[9])R, gR, gpos, gq);
        for (int i = 0; i < nq; i++) oq[r * soq + i] = gq[i];
    }
}
