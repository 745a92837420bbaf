/* The quadrotor's explicit Euler step and its vector-Jacobian product, one loop over drones.
 *
 * The same equations as diffenvs/robots/quadrotor/dynamics.py (see its docstring), written as
 * one pass per drone so that a step costs one call instead of about a hundred tensor
 * operations. diffenvs compiles this file on first use (diffenvs/native.py) and calls it
 * through ctypes; the Python side checks shapes, dtypes and devices. Built twice, for float
 * (suffix _f32) and double (_f64).
 *
 * Parameters P (the tensor's dtype), in this order:
 *   P[0] thrust scale, P[1] thrust offset          f_cmd = a * scale + offset
 *   P[2..17] mixer transposed Mt (row-major 4x4)    W_i = sum_j f_j Mt[j][i], W = (T, tau)
 *   P[18..20] drag D, P[21] 1/mass, P[22..24] gravity g, P[25..27] inertia J,
 *   P[28..30] 1/J, P[31] dt, P[32] dt / motor time constant
 * State rows: p (3), q (4: w, x, y, z), v (3), omega (3), f (4: rotor thrusts); a: actions (4).
 * Every array is read or written with a row stride (in elements; columns contiguous): inputs and
 * incoming gradients each have their own, the outputs of a call share one (they are the columns
 * of one buffer).
 */
#include <math.h>
#include <stddef.h>

#define CROSS(o, a, b) do { (o)[0] = (a)[1] * (b)[2] - (a)[2] * (b)[1]; \
                            (o)[1] = (a)[2] * (b)[0] - (a)[0] * (b)[2]; \
                            (o)[2] = (a)[0] * (b)[1] - (a)[1] * (b)[0]; } while (0)
#define DOT3(a, b) ((a)[0] * (b)[0] + (a)[1] * (b)[1] + (a)[2] * (b)[2])

#define DEFINE_KERNELS(T, SUFFIX)                                                                     \
/* y = v + s w t + u x t, t = 2 u x v: rotation by q (s = +1) or by its inverse (s = -1). */            \
static void rotate_##SUFFIX(const T *q, const T *v, T s, T *y) {                                      \
    T t[3], c[3];                                                                                     \
    CROSS(t, q + 1, v);                                                                               \
    t[0] += t[0]; t[1] += t[1]; t[2] += t[2];                                                         \
    CROSS(c, q + 1, t);                                                                               \
    for (int k = 0; k < 3; k++) y[k] = v[k] + s * q[0] * t[k] + c[k];                                 \
}                                                                                                     \
/* Gradients of g . rotate(q, v, s): adds to gq (4) and gv (3). */                                    \
static void rotate_vjp_##SUFFIX(const T *q, const T *v, T s, const T *g, T *gq, T *gv) {              \
    const T *u = q + 1;                                                                               \
    T t[3], gxu[3], gv_rot[3], a[3], b[3], c[3];                                                      \
    CROSS(t, u, v);                                                                                   \
    t[0] += t[0]; t[1] += t[1]; t[2] += t[2];                                                         \
    gq[0] += s * DOT3(g, t);                                                                          \
    CROSS(gxu, g, u);                      /* g x u */                                                \
    CROSS(a, v, g);                        /* v x g */                                                \
    CROSS(b, t, g);                        /* t x g */                                                \
    CROSS(c, v, gxu);                      /* v x (g x u) */                                          \
    for (int k = 0; k < 3; k++) gq[1 + k] += 2 * s * q[0] * a[k] + b[k] + 2 * c[k];                    \
    CROSS(gv_rot, gxu, u);                 /* (g x u) x u */                                          \
    for (int k = 0; k < 3; k++) gv[k] += g[k] + 2 * s * q[0] * gxu[k] + 2 * gv_rot[k];                 \
}                                                                                                     \
/* The state derivative's pieces shared by the step and its VJP. */                                   \
typedef struct { T f[4], W[4], vb[3], Fb[3], vdot[3], Jw[3], wdot[3], qdot[4], qu[4], n; } Work_##SUFFIX; \
static void forward_one_##SUFFIX(const T *P, int lag, const T *q, const T *v, const T *w,             \
                                 const T *fs, const T *a, Work_##SUFFIX *z) {                         \
    const T *Mt = P + 2, *D = P + 18, *g = P + 22, *J = P + 25, *Ji = P + 28, h = P[31];              \
    for (int j = 0; j < 4; j++) z->f[j] = lag ? fs[j] : a[j] * P[0] + P[1];                           \
    for (int i = 0; i < 4; i++) {                                                                     \
        z->W[i] = 0;                                                                                  \
        for (int j = 0; j < 4; j++) z->W[i] += z->f[j] * Mt[4 * j + i];                               \
    }                                                                                                 \
    rotate_##SUFFIX(q, v, (T)-1, z->vb);                                                              \
    for (int k = 0; k < 3; k++) z->Fb[k] = (k == 2 ? z->W[0] : (T)0) - D[k] * z->vb[k];               \
    rotate_##SUFFIX(q, z->Fb, (T)1, z->vdot);                                                         \
    for (int k = 0; k < 3; k++) z->vdot[k] = z->vdot[k] * P[21] + g[k];                               \
    T c[3];                                                                                           \
    for (int k = 0; k < 3; k++) z->Jw[k] = w[k] * J[k];                                               \
    CROSS(c, w, z->Jw);                                                                               \
    for (int k = 0; k < 3; k++) z->wdot[k] = (z->W[1 + k] - c[k]) * Ji[k];                            \
    T uxw[3];                                                                                         \
    CROSS(uxw, q + 1, w);                                                                             \
    z->qdot[0] = -(q[1] * w[0] + q[2] * w[1] + q[3] * w[2]) * (T)0.5;                                 \
    for (int k = 0; k < 3; k++) z->qdot[1 + k] = (q[0] * w[k] + uxw[k]) * (T)0.5;                     \
    T s = 0;                                                                                          \
    for (int k = 0; k < 4; k++) { z->qu[k] = q[k] + z->qdot[k] * h; s += z->qu[k] * z->qu[k]; }        \
    z->n = sqrt(s);                                                                                   \
}                                                                                                     \
/* One drone's step: next p, q, v, omega, f (po..fo) from p, q, v, omega, f and the action a. */        \
static void step_one_##SUFFIX(const T *P, int lag, const T *pr, const T *qr, const T *vr, const T *wr,  \
                              const T *fr, const T *ar, T *po, T *qo, T *vo, T *wo, T *fo) {            \
    const T h = P[31], k_lag = P[32];                                                                 \
    Work_##SUFFIX z;                                                                                  \
    forward_one_##SUFFIX(P, lag, qr, vr, wr, fr, ar, &z);                                             \
    for (int k = 0; k < 3; k++) {                                                                     \
        po[k] = pr[k] + vr[k] * h;                                                                    \
        vo[k] = vr[k] + z.vdot[k] * h;                                                                \
        wo[k] = wr[k] + z.wdot[k] * h;                                                                \
    }                                                                                                 \
    for (int k = 0; k < 4; k++) qo[k] = z.qu[k] / z.n;                                                \
    for (int j = 0; j < 4; j++) {                                                                     \
        T cmd = ar[j] * P[0] + P[1];                                                                  \
        fo[j] = lag ? z.f[j] + (cmd - z.f[j]) * k_lag : cmd;                                          \
    }                                                                                                 \
}                                                                                                     \
void quad_euler_fwd_##SUFFIX(long n, const T *P, int lag,                                             \
                             const T *p, long sp, const T *q, long sq, const T *v, long sv,           \
                             const T *w, long sw, const T *fs, long sf, const T *a, long sa,          \
                             T *po, T *qo, T *vo, T *wo, T *fo, long so) {                            \
    for (long r = 0; r < n; r++)                                                                      \
        step_one_##SUFFIX(P, lag, p + r * sp, q + r * sq, v + r * sv, w + r * sw, fs + r * sf, a + r * sa, \
                          po + r * so, qo + r * so, vo + r * so, wo + r * so, fo + r * so);           \
}                                                                                                     \
/* One drone's vector-Jacobian product: the gradients of its inputs (gp..ga) from those of its */    \
/* outputs (gpo..gfo, each NULL for zero).                                                     */    \
static void vjp_one_##SUFFIX(const T *P, int lag, const T *qr, const T *vr, const T *wr, const T *fr,  \
                             const T *ar, const T *gpo, const T *gqo, const T *gvo, const T *gwo,     \
                             const T *gfo, T *gp, T *gq, T *gv, T *gw, T *gf, T *ga) {                \
    const T *Mt = P + 2, *D = P + 18, *J = P + 25, *Ji = P + 28, h = P[31], k_lag = P[32];            \
    Work_##SUFFIX z;                                                                                  \
    forward_one_##SUFFIX(P, lag, qr, vr, wr, fr, ar, &z);                                             \
    T Gp[3] = {0, 0, 0}, Gq[4] = {0, 0, 0, 0}, Gv[3] = {0, 0, 0}, Gw[3] = {0, 0, 0};                   \
    T Gf_out[4] = {0, 0, 0, 0}, Gf[4] = {0, 0, 0, 0}, Gcmd[4] = {0, 0, 0, 0};                         \
    if (gpo) for (int k = 0; k < 3; k++) { Gp[k] = gpo[k]; Gv[k] += h * Gp[k]; }                       \
    if (gfo) for (int j = 0; j < 4; j++) Gf_out[j] = gfo[j];                                          \
    /* q' = qu / |qu| */                                                                              \
    T Gqdot[4] = {0, 0, 0, 0};                                                                        \
    if (gqo) {                                                                                        \
        T qn[4], d = 0;                                                                               \
        for (int k = 0; k < 4; k++) { qn[k] = z.qu[k] / z.n; d += qn[k] * gqo[k]; }                   \
        for (int k = 0; k < 4; k++) {                                                                 \
            T gqu = (gqo[k] - qn[k] * d) / z.n;                                                       \
            Gq[k] += gqu;                                                                             \
            Gqdot[k] = h * gqu;                                                                       \
        }                                                                                             \
    }                                                                                                 \
    /* qdot = 1/2 (-(u . w), q0 w + u x w) */                                                         \
    {                                                                                                 \
        const T *u = qr + 1, *gd = Gqdot + 1;                                                         \
        T wxg[3], gxu[3];                                                                             \
        CROSS(wxg, wr, gd);                                                                           \
        CROSS(gxu, gd, u);                                                                            \
        Gq[0] += (T)0.5 * DOT3(gd, wr);                                                               \
        for (int k = 0; k < 3; k++) {                                                                 \
            Gq[1 + k] += (T)0.5 * (-Gqdot[0] * wr[k] + wxg[k]);                                       \
            Gw[k] += (T)0.5 * (-Gqdot[0] * u[k] + qr[0] * gd[k] + gxu[k]);                            \
        }                                                                                             \
    }                                                                                                 \
    /* v' = v + h vdot, vdot = R(q) Fb / m + g, Fb = (0, 0, T) - D vb, vb = R(q)^T v */               \
    T Wg[4] = {0, 0, 0, 0};                                                                           \
    if (gvo) {                                                                                        \
        T s[3], gFb[3] = {0, 0, 0}, gvb[3];                                                           \
        for (int k = 0; k < 3; k++) { Gv[k] += gvo[k]; s[k] = h * gvo[k] * P[21]; }                   \
        rotate_vjp_##SUFFIX(qr, z.Fb, (T)1, s, Gq, gFb);                                              \
        Wg[0] += gFb[2];                                                                              \
        for (int k = 0; k < 3; k++) gvb[k] = -D[k] * gFb[k];                                          \
        rotate_vjp_##SUFFIX(qr, vr, (T)-1, gvb, Gq, Gv);                                              \
    }                                                                                                 \
    /* w' = w + h wdot, wdot = (tau - w x (J w)) / J */                                               \
    if (gwo) {                                                                                        \
        T u[3], a1[3], a2[3], uxw[3];                                                                 \
        for (int k = 0; k < 3; k++) { Gw[k] += gwo[k]; u[k] = h * gwo[k] * Ji[k]; Wg[1 + k] += u[k]; } \
        CROSS(a1, z.Jw, u);                    /* (J w) x u */                                        \
        CROSS(uxw, u, wr);                     /* u x w */                                            \
        for (int k = 0; k < 3; k++) a2[k] = J[k] * uxw[k];                                            \
        for (int k = 0; k < 3; k++) Gw[k] -= a1[k] + a2[k];                                           \
    }                                                                                                 \
    /* W = Mt^T f */                                                                                  \
    for (int j = 0; j < 4; j++)                                                                       \
        for (int i = 0; i < 4; i++) Gf[j] += Mt[4 * j + i] * Wg[i];                                   \
    if (lag) {                                                                                        \
        for (int j = 0; j < 4; j++) { Gf[j] += Gf_out[j] * (1 - k_lag); Gcmd[j] = Gf_out[j] * k_lag; } \
    } else {                                                                                          \
        for (int j = 0; j < 4; j++) { Gcmd[j] = Gf_out[j] + Gf[j]; Gf[j] = 0; }                        \
    }                                                                                                 \
    for (int k = 0; k < 3; k++) { gp[k] = Gp[k]; gv[k] = Gv[k]; gw[k] = Gw[k]; }                      \
    for (int k = 0; k < 4; k++) { gq[k] = Gq[k]; gf[k] = Gf[k]; ga[k] = Gcmd[k] * P[0]; }             \
}                                                                                                     \
/* Gradients of the inputs (gp..ga, row stride sg) from those of the outputs (go*, each with its */   \
/* row stride, or NULL for zero).                                                                */    \
void quad_euler_vjp_##SUFFIX(long n, const T *P, int lag,                                             \
                             const T *q, long sq, const T *v, long sv,                                \
                             const T *w, long sw, const T *fs, long sf, const T *a, long sa,          \
                             const T *gpo, long sgp, const T *gqo, long sgq, const T *gvo, long sgv, \
                             const T *gwo, long sgw, const T *gfo, long sgf,                          \
                             T *gp, T *gq, T *gv, T *gw, T *gf, T *ga, long sg) {                     \
    for (long r = 0; r < n; r++)                                                                      \
        vjp_one_##SUFFIX(P, lag, q + r * sq, v + r * sv, w + r * sw, fs + r * sf, a + r * sa,          \
                         gpo ? gpo + r * sgp : NULL, gqo ? gqo + r * sgq : NULL,                      \
                         gvo ? gvo + r * sgv : NULL, gwo ? gwo + r * sgw : NULL,                      \
                         gfo ? gfo + r * sgf : NULL,                                                  \
                         gp + r * sg, gq + r * sg, gv + r * sg, gw + r * sg, gf + r * sg, ga + r * sg); \
}

DEFINE_KERNELS(float, f32)
DEFINE_KERNELS(double, f64)
