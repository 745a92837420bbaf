/* An articulated robot's control step (hinge PD torques, then semi-implicit Euler substeps with
 * soft foot contact) as one loop over robots, without gradients.
 *
 * The same model and equations as diffenvs/articulated/dynamics.py (forward_dynamics and
 * euler_step with implicit damping, actuator_forces) and diffenvs/robots/quadruped/robot.py's
 * step, equal to float rounding; diffenvs compiles this file on first use (diffenvs/native.py)
 * and calls it through ctypes when no gradient is to be tracked. Built for float (suffix _f32)
 * and double (_f64); the math functions are type-generic (tgmath.h), as PyTorch computes float
 * tensors in float.
 *
 * ints: nb, nh, nf, then parent (nb), hinge_of_body (nb; -1 for the base), dof_body (nv),
 *       foot_body (nf), bodies in level order (each parent before its children).
 * reals (the kernel's type): body_pos (nb x 3), body_rot (nb x 3 x 3), mass (nb), com (nb x 3),
 *       inertia (nb x 3 x 3), hinge axis (nb x 3, body frame), its cross-product matrix K and
 *       K^2 (nb x 3 x 3 each; row 0 unused), damping (nv), armature (nv), foot_pos (nf x 3),
 *       foot_radius (nf), kp, kv, force_limit (nh each), gravity (3).
 * anc: (nb x nv) bytes, 1 when dof k moves body b.
 */
#include <stddef.h>
#define IMPL "euler_step_impl.h"
#include "../each_float_type.h"

/* Numbers per substep that articulated_euler keeps for its backward with keep set (the same for
 * both float types), for the caller to size the tape. */
long articulated_work_size(int nb, int nv, int nf) { return work_size_f64(nb, nv, nf); }
