/* Includes the file named by the macro IMPL (a string) once per floating-point type, with REAL the
 * type and FN(name) the name with its suffix: float (_f32) and double (_f64). Used by the native
 * kernels that diffenvs builds on first use (diffenvs/native.py), which load both. */
#include <math.h>
#include <tgmath.h>

#define REAL float
#define FN(name) name##_f32
#include IMPL
#undef REAL
#undef FN

#define REAL double
#define FN(name) name##_f64
#include IMPL
#undef REAL
#undef FN
