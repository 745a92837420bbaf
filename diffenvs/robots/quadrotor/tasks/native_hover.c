/* A whole DiffQuad-Hover, -Tracking, -Landing or -Racing step in one pass over the drones, and its
 * vector-Jacobian product.
 *
 * What DiffVectorEnv.transition does for these tasks, row by row (see vector_env.py, tasks/hover.py, tasks/landing.py
 * tasks/tracking.py and tasks/racing.py for the definitions; this file restates them for speed and the tests hold
 * the two to float rounding): clamp the actions to [-1, 1] (straight-through gradient), take the
 * drone's explicit Euler step (fused_euler.c), count the step, find diverged and out-of-bounds
 * drones, the reward terms (zero in a diverged row) and metrics, termination and truncation,
 * the observation, the running return, and reset finished rows to the given episode starts.
 *
 * Arguments come as one struct of 8-byte members (pointers and counts), which the Python side
 * fills as an array of int64 in the same order (native_hover.py, ARGS). Every input array has
 * its own row stride in elements (columns contiguous); outputs go to four buffers laid out as
 * native_hover.py describes (VEC_COLS, SCALARS, INTS, FLAGS). The episode starts' observations
 * may be left out (a null pointer): a row that restarts is then observed here.
 */
#include "../fused_euler.c"

typedef struct {
    long n, lag, max_steps, points, kind;  /* points: reference points observed (K); kind: KIND_* */
    const void *P;      /* robot parameters (fused_euler.c) */
    const void *C;      /* task constants, see C_* below */
    const void *p; long sp; const void *q; long sq; const void *v; long sv; const void *w; long sw;
    const void *f; long sf; const void *pes; long spes; const long *step; long sstep;
    const void *a; long sa; const void *ret; long sret;
    const void *fp; long sfp; const void *fq; long sfq; const void *fv; long sfv; const void *fw; long sfw;
    const void *ff; long sff; const void *fpes; long sfpes; const long *fstep; long sfstep;
    const void *fobs; long sfobs;
    const long *counters_in;
    void *vec; void *sca; long *ints; unsigned char *flags; long *counters_out;
    long ti;            /* integer task-state fields (TI: Racing's 5, else 0) */
    const long *task; long ctask; const long *ftask; long cftask;  /* theirs and the starts', column strides */
} HoverArgs;

typedef struct {
    long n, lag, points, kind;
    const void *P, *C;
    const void *q; long sq; const void *v; long sv; const void *w; long sw; const void *f; long sf;
    const void *a; long sa;
    const void *vec; const unsigned char *flags; const long *next_step;
    const void *g_new[5]; long s_new[5]; const void *g_pes; long s_pes;
    const void *g_obs; long s_obs; const void *g_final; long s_final;
    const void *g_reward; long s_reward; const void *g_terms[6]; long s_terms[6];
    void *out;
    long ti; const long *next_gate;  /* TI and Racing's post-step target gates (the ints' column) */
} HoverGradArgs;

/* A rollout of `steps` steps: the first step's arguments, then the step strides (in elements) of
 * the actions and of the episode starts' fields; outputs are `steps` blocks (see hover_rollout). */
typedef struct {
    HoverArgs base;
    long steps, ta, tfp, tfq, tfv, tfw, tff, tfpes, tfstep, tfobs, tftask;
} HoverRolloutArgs;

/* Its backward: the last step's arguments for the final state's gradients (g_new, g_pes; the
 * other g_* are the per-step gradients' starts), the step strides of the actions and of the
 * per-step gradients; vec, flags and out hold all steps. */
typedef struct {
    HoverGradArgs base;
    long steps, ta, t_obs, t_final, t_reward, t_terms[6];
} HoverRolloutGradArgs;

/* Task constants C: the reference's centre (3), arena centre (3), arena half extent (3), squared
 * limits of |v|, |omega|, |p| (3), weights c, k_pos, k_quat, k_vel, k_rate (5), success radius, the
 * observation scales of position, velocity and rate (3), the reference circle's radius and angular
 * speed, the control step dt, and the K observed points' time offsets. The reference at time t is
 * centre + (r cos(w t), r sin(w t), 0): Hover's fixed target with r = w = 0 (K = 1), Tracking's
 * moving point otherwise; the error compares the drone with it at the step's time (step * dt),
 * the observation holds the K points at step * dt + offset_k relative to the drone. */
enum { C_TARGET = 0, C_CENTER = 3, C_HALF = 6, C_LIMITS = 9, C_W = 12, C_RADIUS = 17, C_SCALES = 18,
       C_REF_R = 21, C_REF_W = 22, C_DT = 23, C_OFFSETS = 24 };
/* The reward: KIND_SKELETON, Hover's and Tracking's five terms c - k_pos |p - ref| - k_quat |q - 1| -
 * k_vel |v| - k_rate |omega| with the task state pos_error_sum (metrics: error, mean error, success
 * within the radius); KIND_LANDING, Landing's shaped terms toward the pad at C_TARGET (no task state;
 * metrics: xy error, height, success). For Landing the weights W = C + C_W are w_xy / (eta - 1),
 * w_z / (eta - 1), log(eta), the success and failure rewards, C_RADIUS is success_xy, and after
 * the offsets come xy_scale, z_min, z_max, success_height, success_speed (L_*). */
/* KIND_RACING: the gates in order (task state: next gate, gates passed, lap start, gates in the lap,
 * last lap's steps; the ints' columns after the two step counts, new then pre-reset), the skeleton's
 * five terms toward the gate to pass next and a sixth, the bonus per gate passed (metrics: gates
 * passed, lap time, success; flag F_GATE); K = 2 observed points, the next two gates. After the
 * offsets come the number of gates, the gate radius, the bonus, and the gates' centres (R_*).
 * KIND_RACING_VEL: the same with the velocity reward (paper Appendix D.2): approach speed toward the gate to
 * pass next (capped), speed across that direction over (distance + 1), body-rate norm and the gate bonus, four
 * terms; the weights W are k_approach, -k_away, -k_rate_vel and the cap. */
enum { KIND_SKELETON = 0, KIND_LANDING = 1, KIND_RACING = 2, KIND_RACING_VEL = 3 };
enum { L_XY_SCALE, L_Z_MIN, L_Z_MAX, L_HEIGHT, L_SPEED };
enum { R_COUNT, R_RADIUS, R_BONUS, R_GATES };
enum { T_GATE, T_PASSED, T_LAP_START, T_LAP_GATES, T_LAST_LAP };
/* Output layout: vec rows of VEC = 2 (17 + OBS) values, OBS = 3 K + 10: new p q v w f (17), new obs
 * (OBS), pre-reset p q v w f (17), pre-reset obs (OBS); sca: 13 columns of n (column-major), ints:
 * 2 + 2 TI columns, flags: 7 columns and one more byte (all actions finite). */
enum { NEW = 0, NEW_OBS = 17 };
#define LAYOUT(K) const long OBS = 3 * (K) + 10, VEC = 2 * (17 + OBS), NEXT = 17 + OBS, NEXT_OBS = NEXT + 17; \
                  (void)NEXT_OBS
enum { S_NEW_PES, S_NEXT_PES, S_REWARD, S_TERMS, S_RET = S_TERMS + 6, S_RET_FINAL, S_ERR, S_MEAN_ERR, N_SCA };
enum { I_NEW_STEP, I_NEXT_STEP, I_TASK };
enum { F_TERMINATED, F_TRUNCATED, F_DIVERGED, F_OOB, F_DONE, F_SUCCESS, F_GATE, N_FLAGS };
#define GRAD_COLS 22 /* p q v w f (17), actions (4), pos_error_sum (1) */

#define DEFINE_HOVER(T, SUFFIX)                                                                       \
static T clamp1_##SUFFIX(T x) { return x < (T)-1 ? (T)-1 : (x > (T)1 ? (T)1 : x); }                  \
static T norm_diff_##SUFFIX(const T *x, const T *y, int k, T *d) {                                     \
    T s = 0;                                                                                          \
    for (int i = 0; i < k; i++) { d[i] = x[i] - (y ? y[i] : (T)0); s += d[i] * d[i]; }               \
    return sqrt(s);                                                                                   \
}                                                                                                     \
static void reference_##SUFFIX(const T *C, T t, T *ref) {                                             \
    const T phase = C[C_REF_W] * t, c = (T)cos(phase), s = (T)sin(phase);                            \
    ref[0] = C[C_TARGET] + C[C_REF_R] * c;                                                            \
    ref[1] = C[C_TARGET + 1] + C[C_REF_R] * s;                                                        \
    ref[2] = C[C_TARGET + 2] + (T)0;                                                                  \
}                                                                                                     \
/* The observation of a drone at step count st: K reference points relative to it, then q, v, w. */  \
/* Racing (gate >= 0): the K gates from `gate` on instead of the reference points. */                \
static void observe_##SUFFIX(const T *C, long K, long st, long gate, const T *p, const T *q,          \
                             const T *v, const T *w, T *o) {                                          \
    T ref[3];                                                                                         \
    const T *R = C + C_OFFSETS + K;                                                                   \
    for (long i = 0; i < K; i++) {                                                                    \
        if (gate >= 0) {                                                                              \
            const T *g = R + R_GATES + 3 * ((gate + i) % (long)R[R_COUNT]);                           \
            for (int k = 0; k < 3; k++) ref[k] = g[k];                                                \
        } else {                                                                                      \
            reference_##SUFFIX(C, (T)st * C[C_DT] + C[C_OFFSETS + i], ref);                           \
        }                                                                                             \
        for (int k = 0; k < 3; k++) o[3 * i + k] = (ref[k] - p[k]) * C[C_SCALES];                    \
    }                                                                                                 \
    o += 3 * K;                                                                                       \
    for (int k = 0; k < 4; k++) o[k] = q[k];                                                          \
    for (int k = 0; k < 3; k++) { o[4 + k] = v[k] * C[C_SCALES + 1]; o[7 + k] = w[k] * C[C_SCALES + 2]; } \
}                                                                                                     \
/* Landing's terms at the drone's post-step p, v (failed: out of bounds or diverged), its success    \
 * (touch-down), horizontal distance to the pad and height above it.                                  \
 * L = C + C_OFFSETS + K: see L_*.                                                                     */\
static void landing_##SUFFIX(const T *C, const T *L, const T *p, const T *v, int failed, T *terms,    \
                             int *success, T *xy, T *height) {                                        \
    const T *W = C + C_W;                                                                             \
    const T h = p[2] - C[C_TARGET + 2];                                                               \
    const T ref = h < L[L_Z_MIN] ? L[L_Z_MIN] : (h > L[L_Z_MAX] ? L[L_Z_MAX] : h);                   \
    const T dx = p[0] - C[C_TARGET], dy = p[1] - C[C_TARGET + 1];                                     \
    const T d = sqrt(dx * dx + dy * dy), descent = -v[2], ratio = descent / ref;                       \
    const T u = descent <= ref ? ratio : (T)5 - (T)4 * ratio;                                         \
    *success = h <= L[L_HEIGHT] && d < C[C_RADIUS] && sqrt(DOT3(v, v)) <= L[L_SPEED] && !failed;     \
    terms[0] = W[0] * ((T)exp(W[2] * ((T)1 - d / (L[L_XY_SCALE] * ref))) - (T)1);                   \
    terms[1] = W[1] * ((T)exp(W[2] * u) - (T)1);                                                      \
    terms[2] = (T)*success * W[3];                                                                    \
    terms[3] = (T)failed * W[4];                                                                      \
    terms[4] = 0;                                                                                     \
    *xy = d; *height = h;                                                                             \
}                                                                                                     \
/* d(norm(x - y)) scaled by g, added to G (no gradient where the norm is 0, as PyTorch's norm). */    \
static void add_norm_grad_##SUFFIX(const T *x, const T *y, int k, T g, T *G) {                         \
    T d[4];                                                                                           \
    const T nrm = norm_diff_##SUFFIX(x, y, k, d);                                                     \
    if (nrm != 0) for (int i = 0; i < k; i++) G[i] += g * d[i] / nrm;                                 \
}                                                                                                     \
/* The velocity reward's three differentiable terms at p, v, w toward the gate at g (W: k_approach, -k_away, \
 * -k_rate_vel, the approach speed's cap).                                                            */\
static void velocity_terms_##SUFFIX(const T *W, const T *g, const T *p, const T *v, const T *w, T *terms) { \
    T rel[3], u[3], across[3], d[4];                                                                  \
    for (int k = 0; k < 3; k++) rel[k] = g[k] - p[k];                                                 \
    const T dist = norm_diff_##SUFFIX(rel, NULL, 3, d), D = dist + (T)1e-6;                          \
    for (int k = 0; k < 3; k++) u[k] = rel[k] / D;                                                    \
    T approach = v[0] * u[0] + v[1] * u[1] + v[2] * u[2];                                            \
    if (approach > W[3]) approach = W[3];                                                             \
    for (int k = 0; k < 3; k++) across[k] = v[k] - approach * u[k];                                   \
    terms[0] = W[0] * approach;                                                                       \
    terms[1] = W[1] * norm_diff_##SUFFIX(across, NULL, 3, d) / (dist + (T)1);                        \
    terms[2] = W[2] * norm_diff_##SUFFIX(w, NULL, 3, d);                                              \
}                                                                                                     \
/* Their vector-Jacobian product: gt[0..2], the terms' gradients, added to G (p q v w f).             */\
static void velocity_vjp_##SUFFIX(const T *W, const T *g, const T *p, const T *v, const T *w,        \
                                  const T *gt, T *G) {                                                \
    T rel[3], u[3], across[3], d[4], g_u[3] = {0, 0, 0}, g_rel[3] = {0, 0, 0};                        \
    for (int k = 0; k < 3; k++) rel[k] = g[k] - p[k];                                                 \
    const T dist = norm_diff_##SUFFIX(rel, NULL, 3, d), D = dist + (T)1e-6;                          \
    for (int k = 0; k < 3; k++) u[k] = rel[k] / D;                                                    \
    const T raw = v[0] * u[0] + v[1] * u[1] + v[2] * u[2];                                           \
    const T approach = raw > W[3] ? W[3] : raw;                                                       \
    for (int k = 0; k < 3; k++) across[k] = v[k] - approach * u[k];                                   \
    const T A = norm_diff_##SUFFIX(across, NULL, 3, d);                                               \
    /* away = W1 A / (dist + 1) */                                                                   \
    const T g_A = gt[1] * W[1] / (dist + (T)1);                                                       \
    T g_dist = -gt[1] * W[1] * A / ((dist + (T)1) * (dist + (T)1));                                   \
    T g_approach = gt[0] * W[0];                                                                      \
    if (A != 0) for (int k = 0; k < 3; k++) {                                                         \
        const T g_across = g_A * across[k] / A;                                                       \
        G[7 + k] += g_across;                                                                         \
        g_approach -= g_across * u[k];                                                                \
        g_u[k] -= approach * g_across;                                                                \
    }                                                                                                 \
    const T g_raw = raw <= W[3] ? g_approach : (T)0;                                                  \
    for (int k = 0; k < 3; k++) { G[7 + k] += g_raw * u[k]; g_u[k] += g_raw * v[k]; }                 \
    T dot = 0;                                                                                        \
    for (int k = 0; k < 3; k++) { g_rel[k] += g_u[k] / D; dot += g_u[k] * rel[k]; }                   \
    g_dist -= dot / (D * D);                                                                          \
    if (dist != 0) for (int k = 0; k < 3; k++) g_rel[k] += g_dist * rel[k] / dist;                    \
    for (int k = 0; k < 3; k++) G[k] -= g_rel[k];                                                     \
    add_norm_grad_##SUFFIX(w, NULL, 3, W[2] * gt[2], G + 10);                                          \
}                                                                                                     \
void hover_step_##SUFFIX(const HoverArgs *A) {                                                        \
    const long n = A->n, K = A->points;                                                               \
    LAYOUT(K);                                                                                        \
    const T *P = A->P, *C = A->C, *W = C + C_W;                                                       \
    const T unit[4] = {1, 0, 0, 0};                                                                   \
    T *vec = A->vec, *sca = A->sca;                                                                   \
    long n_div = 0, n_oob = 0, n_bad = 0;                                                             \
    for (long r = 0; r < n; r++) {                                                                    \
        const T *ar = (const T *)A->a + r * A->sa;                                                    \
        T ac[4];                                                                                      \
        for (int j = 0; j < 4; j++) { n_bad += !isfinite(ar[j]); ac[j] = clamp1_##SUFFIX(ar[j]); }    \
        T *row = vec + r * VEC, *nx = row + NEXT;                                                     \
        T *np_ = nx, *nq = nx + 3, *nv = nx + 7, *nw = nx + 10, *nf = nx + 13;                        \
        step_one_##SUFFIX(P, (int)A->lag, (const T *)A->p + r * A->sp, (const T *)A->q + r * A->sq,   \
                          (const T *)A->v + r * A->sv, (const T *)A->w + r * A->sw,                   \
                          (const T *)A->f + r * A->sf, ac, np_, nq, nv, nw, nf);                      \
        const long st = A->step[r * A->sstep] + 1;                                                    \
        int oob = 0;                                                                                  \
        for (int k = 0; k < 3; k++) oob |= fabs(np_[k] - C[C_CENTER + k]) > C[C_HALF + k];           \
        int div = !(DOT3(nv, nv) <= C[C_LIMITS] && DOT3(nw, nw) <= C[C_LIMITS + 1]                   \
                    && DOT3(np_, np_) <= C[C_LIMITS + 2]);                                            \
        T terms[6] = {0}, err, second;  /* the first two metrics: error and mean error, xy error and */ \
        int success, gate_passed = 0;   /* height, or gates passed and lap time                      */ \
        long task[5] = {0};  /* Racing: the task state after the step */                              \
        if (A->kind == KIND_LANDING) {                                                                \
            landing_##SUFFIX(C, C + C_OFFSETS + K, np_, nv, oob | div, terms, &success, &err, &second); \
        } else {                                                                                      \
            T d[4], ref[3];                                                                           \
            if (A->kind >= KIND_RACING) {                                                             \
                const T *R = C + C_OFFSETS + K;                                                       \
                const long G = (long)R[R_COUNT];                                                      \
                for (int i = 0; i < 5; i++) task[i] = A->task[i * A->ctask + r];                      \
                const long gate = task[T_GATE];                                                       \
                gate_passed = norm_diff_##SUFFIX(np_, R + R_GATES + 3 * gate, 3, d) <= R[R_RADIUS] && !(oob | div); \
                task[T_GATE] = (gate + gate_passed) % G;                                              \
                task[T_PASSED] += gate_passed;                                                        \
                if (gate_passed && task[T_LAP_GATES] == 0) task[T_LAP_START] = st;                    \
                task[T_LAP_GATES] += gate_passed;                                                     \
                if (task[T_LAP_GATES] > G) {                                                          \
                    task[T_LAST_LAP] = st - task[T_LAP_START]; task[T_LAP_START] = st; task[T_LAP_GATES] = 1; \
                }                                                                                     \
                for (int k = 0; k < 3; k++) ref[k] = R[R_GATES + 3 * task[T_GATE] + k];               \
                terms[5] = (T)gate_passed * R[R_BONUS];                                               \
            } else {                                                                                  \
                reference_##SUFFIX(C, (T)st * C[C_DT], ref);                                          \
            }                                                                                         \
            if (A->kind == KIND_RACING_VEL) {  /* approach, away, rate, then the gate bonus */       \
                velocity_terms_##SUFFIX(W, ref, np_, nv, nw, terms);                                  \
                terms[3] = terms[5]; terms[5] = 0;                                                    \
                err = 0;                                                                              \
            } else {                                                                                  \
                err = norm_diff_##SUFFIX(np_, ref, 3, d);                                             \
                terms[0] = W[0]; terms[1] = -W[1] * err;                                              \
                terms[2] = -W[2] * norm_diff_##SUFFIX(nq, unit, 4, d);                                \
                terms[3] = -W[3] * norm_diff_##SUFFIX(nv, NULL, 3, d);                                \
                terms[4] = -W[4] * norm_diff_##SUFFIX(nw, NULL, 3, d);                                \
            }                                                                                         \
            success = err < C[C_RADIUS];                                                              \
            second = 0;                                                                               \
            if (A->kind >= KIND_RACING) {  /* metrics: gates passed, the last lap's time (-1: none) */ \
                const long G = (long)C[C_OFFSETS + K + R_COUNT];                                      \
                success = task[T_PASSED] >= G;                                                        \
                err = (T)task[T_PASSED];                                                              \
                second = task[T_LAST_LAP] >= 0 ? (T)task[T_LAST_LAP] * C[C_DT] : (T)-1;               \
            }                                                                                         \
        }                                                                                             \
        T reward = terms[0] + terms[1] + terms[2] + terms[3];                                         \
        if (A->kind != KIND_LANDING) reward += terms[4];                                              \
        if (A->kind == KIND_RACING) reward += terms[5];                                               \
        div |= !isfinite(reward);                                                                     \
        if (div) { oob = 0; reward = 0; for (int i = 0; i < 6; i++) terms[i] = 0; }                   \
        const int terminated = oob | div | (A->kind == KIND_LANDING && success);                      \
        const int truncated = A->max_steps > 0 && st >= A->max_steps && !terminated;                  \
        const int done = terminated | truncated;                                                      \
        n_div += div; n_oob += oob;                                                                   \
        const int racing = A->kind >= KIND_RACING;                                                    \
        observe_##SUFFIX(C, K, st, racing ? task[T_GATE] : -1, np_, nq, nv, nw, row + NEXT_OBS);      \
        const T pes = A->pes ? ((const T *)A->pes)[r * A->spes] + err : (T)0;                        \
        const T ret = ((const T *)A->ret)[r * A->sret] + reward;                                      \
        if (done) {                                                                                   \
            const T *src[5] = {(const T *)A->fp + r * A->sfp, (const T *)A->fq + r * A->sfq,          \
                               (const T *)A->fv + r * A->sfv, (const T *)A->fw + r * A->sfw,          \
                               (const T *)A->ff + r * A->sff};                                        \
            static const int off[5] = {0, 3, 7, 10, 13}, wid[5] = {3, 4, 3, 3, 4};                    \
            for (int i = 0; i < 5; i++) for (int k = 0; k < wid[i]; k++) row[NEW + off[i] + k] = src[i][k]; \
            if (A->fobs) {                                                                            \
                const T *fo = (const T *)A->fobs + r * A->sfobs;                                      \
                for (int k = 0; k < OBS; k++) row[NEW_OBS + k] = fo[k];                               \
            } else {  /* no observations of the starts given: observe the start here */              \
                observe_##SUFFIX(C, K, A->fstep[r * A->sfstep], racing ? A->ftask[r] : -1, src[0],     \
                                 src[1], src[2], src[3], row + NEW_OBS);                              \
            }                                                                                         \
            sca[S_NEW_PES * n + r] = A->fpes ? ((const T *)A->fpes)[r * A->sfpes] : (T)0;              \
            A->ints[I_NEW_STEP * n + r] = A->fstep[r * A->sfstep];                                    \
            for (long i = 0; i < A->ti; i++) A->ints[(I_TASK + i) * n + r] = A->ftask[i * A->cftask + r]; \
        } else {                                                                                      \
            for (int k = 0; k < 17 + OBS; k++) row[NEW + k] = row[NEXT + k];                          \
            sca[S_NEW_PES * n + r] = pes;                                                             \
            A->ints[I_NEW_STEP * n + r] = st;                                                         \
            for (long i = 0; i < A->ti; i++) A->ints[(I_TASK + i) * n + r] = task[i];                 \
        }                                                                                             \
        A->ints[I_NEXT_STEP * n + r] = st;                                                            \
        for (long i = 0; i < A->ti; i++) A->ints[(I_TASK + A->ti + i) * n + r] = task[i];             \
        sca[S_NEXT_PES * n + r] = pes;                                                                \
        sca[S_REWARD * n + r] = reward;                                                               \
        for (int i = 0; i < 6; i++) sca[(S_TERMS + i) * n + r] = terms[i];                            \
        sca[S_RET * n + r] = done ? (T)0 : ret;                                                       \
        sca[S_RET_FINAL * n + r] = ret;                                                               \
        sca[S_ERR * n + r] = err;                                                                     \
        sca[S_MEAN_ERR * n + r] = A->kind == KIND_SKELETON ? pes / (T)st : second;                    \
        unsigned char *fl = A->flags;                                                                 \
        fl[F_TERMINATED * n + r] = terminated; fl[F_TRUNCATED * n + r] = truncated;                   \
        fl[F_DIVERGED * n + r] = div; fl[F_OOB * n + r] = oob; fl[F_DONE * n + r] = done;             \
        fl[F_SUCCESS * n + r] = success; fl[F_GATE * n + r] = gate_passed;                            \
    }                                                                                                 \
    A->flags[N_FLAGS * n] = n_bad == 0;                                                               \
    A->counters_out[0] = A->counters_in[0] + n_div;                                                   \
    A->counters_out[1] = A->counters_in[1] + n_oob;                                                   \
}                                                                                                     \
void hover_vjp_##SUFFIX(const HoverGradArgs *A) {                                                     \
    const long n = A->n, K = A->points;                                                               \
    LAYOUT(K);                                                                                        \
    const T *P = A->P, *C = A->C, *W = C + C_W;                                                       \
    const T unit[4] = {1, 0, 0, 0};                                                                   \
    static const int off[5] = {0, 3, 7, 10, 13}, wid[5] = {3, 4, 3, 3, 4};                            \
    for (long r = 0; r < n; r++) {                                                                    \
        const int done = A->flags[F_DONE * n + r], div = A->flags[F_DIVERGED * n + r];               \
        const T *nx = (const T *)A->vec + r * VEC + NEXT;                                             \
        T G[17] = {0}, Gobs[OBS], Gpes = 0;                                                           \
        for (long k = 0; k < OBS; k++) Gobs[k] = 0;                                                   \
        if (!done) {                                                                                  \
            for (int i = 0; i < 5; i++) if (A->g_new[i]) {                                            \
                const T *g = (const T *)A->g_new[i] + r * A->s_new[i];                                \
                for (int k = 0; k < wid[i]; k++) G[off[i] + k] += g[k];                               \
            }                                                                                         \
            if (A->g_pes) Gpes = ((const T *)A->g_pes)[r * A->s_pes];                                 \
            if (A->g_obs) for (int k = 0; k < OBS; k++) Gobs[k] += ((const T *)A->g_obs)[r * A->s_obs + k]; \
        }                                                                                             \
        if (A->g_final) for (int k = 0; k < OBS; k++) Gobs[k] += ((const T *)A->g_final)[r * A->s_final + k]; \
        for (long i = 0; i < K; i++) for (int k = 0; k < 3; k++) G[k] -= Gobs[3 * i + k] * C[C_SCALES]; \
        const T *Gs = Gobs + 3 * K;                                                                   \
        for (int k = 0; k < 4; k++) G[3 + k] += Gs[k];                                                \
        for (int k = 0; k < 3; k++) { G[7 + k] += Gs[4 + k] * C[C_SCALES + 1]; G[10 + k] += Gs[7 + k] * C[C_SCALES + 2]; } \
        /* A diverged row's terms are zero (no gradient), but as in PyTorch a zero gradient times */ \
        /* a non-finite norm derivative is NaN, and such a row's gradient is then zeroed below.    */ \
        const T gr = A->g_reward && !div ? ((const T *)A->g_reward)[r * A->s_reward] : (T)0;          \
        T gt[5];  /* (Racing's sixth term, the gate bonus, has no gradient) */                        \
        for (int i = 0; i < 5; i++)                                                                   \
            gt[i] = div ? (T)0 : gr + (A->g_terms[i] ? ((const T *)A->g_terms[i])[r * A->s_terms[i]] : (T)0); \
        if (A->kind == KIND_LANDING) {  /* the shaped terms; success and failure carry no gradient */ \
            const T *L = C + C_OFFSETS + K;                                                           \
            const T h = nx[2] - C[C_TARGET + 2];                                                      \
            const T ref = h < L[L_Z_MIN] ? L[L_Z_MIN] : (h > L[L_Z_MAX] ? L[L_Z_MAX] : h);           \
            const T dx = nx[0] - C[C_TARGET], dy = nx[1] - C[C_TARGET + 1];                           \
            const T d = sqrt(dx * dx + dy * dy), descent = -nx[9], ratio = descent / ref;             \
            const T u = descent <= ref ? ratio : (T)5 - (T)4 * ratio;                                 \
            const T scale = L[L_XY_SCALE] * ref;                                                      \
            const T g_d = -gt[0] * W[0] * W[2] * (T)exp(W[2] * ((T)1 - d / scale)) / scale;           \
            if (d != 0) { G[0] += g_d * dx / d; G[1] += g_d * dy / d; }                               \
            const T g_u = gt[1] * W[1] * W[2] * (T)exp(W[2] * u);                                     \
            G[9] -= (descent <= ref ? g_u : -(T)4 * g_u) / ref;                                       \
        } else {                                                                                      \
            T ref[3];                                                                                 \
            if (A->kind >= KIND_RACING) {                                                             \
                const T *g = C + C_OFFSETS + K + R_GATES + 3 * A->next_gate[r];                       \
                for (int k = 0; k < 3; k++) ref[k] = g[k];                                            \
            } else {                                                                                  \
                reference_##SUFFIX(C, (T)A->next_step[r] * C[C_DT], ref);                             \
            }                                                                                         \
            if (A->kind == KIND_RACING_VEL) {                                                         \
                velocity_vjp_##SUFFIX(W, ref, nx, nx + 7, nx + 10, gt, G);                            \
            } else {                                                                                  \
            add_norm_grad_##SUFFIX(nx, ref, 3, -W[1] * gt[1], G);                                      \
            add_norm_grad_##SUFFIX(nx + 3, unit, 4, -W[2] * gt[2], G + 3);                             \
            add_norm_grad_##SUFFIX(nx + 7, NULL, 3, -W[3] * gt[3], G + 7);                             \
            add_norm_grad_##SUFFIX(nx + 10, NULL, 3, -W[4] * gt[4], G + 10);                           \
            }                                                                                         \
        }                                                                                             \
        const T *ar = (const T *)A->a + r * A->sa;                                                    \
        T ac[4];                                                                                      \
        for (int j = 0; j < 4; j++) ac[j] = clamp1_##SUFFIX(ar[j]);                                   \
        T *o = (T *)A->out + r * GRAD_COLS;                                                           \
        vjp_one_##SUFFIX(P, (int)A->lag, (const T *)A->q + r * A->sq, (const T *)A->v + r * A->sv,    \
                         (const T *)A->w + r * A->sw, (const T *)A->f + r * A->sf, ac,                \
                         G, G + 3, G + 7, G + 10, G + 13, o, o + 3, o + 7, o + 10, o + 13, o + 17);   \
        o[21] = Gpes;                                                                                 \
        int finite = 1;                                                                               \
        for (int k = 0; k < GRAD_COLS; k++) finite &= isfinite(o[k]) != 0;                            \
        if (!finite) for (int k = 0; k < GRAD_COLS; k++) o[k] = 0;                                    \
    }                                                                                                 \
}                                                                                                     \
/* Several steps in one call: step t reads step t-1's new (post-reset) fields from the output   \
 * buffers, its own actions and episode starts at the given step strides, and writes its outputs \
 * to the t-th block of each buffer (blocks of n VEC, N_SCA n, 2 n, N_FLAGS n + 1 and 2 values). */\
void hover_rollout_##SUFFIX(const HoverRolloutArgs *R) {                                              \
    HoverArgs A = R->base;                                                                            \
    const long n = A.n;                                                                               \
    LAYOUT(A.points);                                                                                 \
    for (long t = 0; t < R->steps; t++) {                                                             \
        hover_step_##SUFFIX(&A);                                                                      \
        T *row = A.vec, *sca = A.sca;                                                                 \
        A.p = row + NEW; A.q = row + NEW + 3; A.v = row + NEW + 7; A.w = row + NEW + 10;              \
        A.f = row + NEW + 13; A.sp = A.sq = A.sv = A.sw = A.sf = VEC;                                 \
        A.pes = sca + S_NEW_PES * n; A.ret = sca + S_RET * n; A.step = A.ints + I_NEW_STEP * n;       \
        A.spes = A.sret = A.sstep = 1;                                                                \
        A.task = A.ints + I_TASK * n; A.ctask = n;                                                    \
        if (A.ftask) A.ftask += R->tftask;                                                            \
        A.counters_in = A.counters_out;                                                               \
        A.a = (const T *)A.a + R->ta;                                                                 \
        A.fp = (const T *)A.fp + R->tfp; A.fq = (const T *)A.fq + R->tfq;                             \
        A.fv = (const T *)A.fv + R->tfv; A.fw = (const T *)A.fw + R->tfw;                             \
        A.ff = (const T *)A.ff + R->tff; A.fpes = (const T *)A.fpes + R->tfpes;                       \
        A.fstep += R->tfstep; if (A.fobs) A.fobs = (const T *)A.fobs + R->tfobs;                      \
        A.vec = row + n * VEC; A.sca = sca + N_SCA * n; A.ints += (2 + 2 * A.ti) * n;                 \
        A.flags += N_FLAGS * n + 1; A.counters_out += 2;                                              \
    }                                                                                                 \
}                                                                                                     \
/* Its vector-Jacobian product, last step first: the gradient of step t's new fields is what the \
 * caller gives for the rollout's final state (t = T-1) or step t+1's input gradient; the         \
 * per-step output gradients (obs, pre-reset obs, reward, terms) are (steps, n, ...) arrays with  \
 * step strides; `out` gets (steps, n, GRAD_COLS): each step's input gradients.                   */\
void hover_rollout_vjp_##SUFFIX(const HoverRolloutGradArgs *R) {                                      \
    HoverGradArgs A = R->base;                                                                        \
    const long n = A.n, steps = R->steps;                                                             \
    LAYOUT(A.points);                                                                                 \
    for (long t = steps - 1; t >= 0; t--) {                                                           \
        const T *vec = (const T *)R->base.vec + t * n * VEC;                                          \
        T *out = (T *)R->base.out + t * n * GRAD_COLS;                                                \
        A.vec = vec; A.flags = R->base.flags + t * (N_FLAGS * n + 1); A.out = out;                    \
        A.next_step = R->base.next_step + t * (2 + 2 * A.ti) * n;                                     \
        if (A.next_gate) A.next_gate = R->base.next_gate + t * (2 + 2 * A.ti) * n;                    \
        A.a = (const T *)R->base.a + t * R->ta;                                                       \
        if (t > 0) {  /* the step's input: the previous step's new fields */                         \
            const T *prev = vec - n * VEC + NEW;                                                      \
            A.q = prev + 3; A.v = prev + 7; A.w = prev + 10; A.f = prev + 13;                         \
            A.sq = A.sv = A.sw = A.sf = VEC;                                                          \
        } else {                                                                                      \
            A.q = R->base.q; A.v = R->base.v; A.w = R->base.w; A.f = R->base.f;                       \
            A.sq = R->base.sq; A.sv = R->base.sv; A.sw = R->base.sw; A.sf = R->base.sf;               \
        }                                                                                             \
        if (t < steps - 1) {  /* the next step's input gradients */                                  \
            const T *next = out + n * GRAD_COLS;                                                      \
            static const int off[5] = {0, 3, 7, 10, 13};                                              \
            for (int i = 0; i < 5; i++) { A.g_new[i] = next + off[i]; A.s_new[i] = GRAD_COLS; }       \
            A.g_pes = next + 21; A.s_pes = GRAD_COLS;                                                 \
        }                                                                                             \
        A.g_obs = R->base.g_obs ? (const T *)R->base.g_obs + t * R->t_obs : NULL;                     \
        A.g_final = R->base.g_final ? (const T *)R->base.g_final + t * R->t_final : NULL;             \
        A.g_reward = R->base.g_reward ? (const T *)R->base.g_reward + t * R->t_reward : NULL;         \
        for (int i = 0; i < 6; i++)                                                                   \
            A.g_terms[i] = R->base.g_terms[i] ? (const T *)R->base.g_terms[i] + t * R->t_terms[i] : NULL; \
        hover_vjp_##SUFFIX(&A);                                                                       \
    }                                                                                                 \
}

DEFINE_HOVER(float, f32)
DEFINE_HOVER(double, f64)
