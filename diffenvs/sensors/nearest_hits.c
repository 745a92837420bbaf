/* The first stage of diffenvs.sensors.depth_camera.ray_cast as one loop over rays: the nearest hit
 * (distance, kind, index) of every ray over an env's cylinders, spheres, boxes and ground, the same
 * operations in the same order as _nearest_hits there (float32 in float, float64 in double, so the
 * hits are the same; a distance may differ in its last bit). It needs no autograd: ray_cast
 * recomputes the winning obstacle's distance with gradients where one is recorded.
 *
 * Rays: n envs x nr rays; origins o (n x 3 when shared, else n x nr x 3), unit directions d
 * (n x nr x 3). World arrays are per env, contiguous: cylinders (n x kc: xy 2, radius, z range 2,
 * valid byte), spheres (n x ks: centre 3, radius, valid), boxes (n x kb: lower 3, upper 3, valid),
 * ground (n bytes). cst: the floor under a discriminant, under |d_xy|^2, the smallest direction
 * component, the "unbounded" ray parameter, max_distance, and whether max_distance is finite.
 * Outputs (n x nr): distance (+inf: no hit), kind (-1 none, 0 cylinder, 1 sphere, 2 box,
 * 3 ground), index within the kind (-1 none). Built for float (_f32) and double (_f64).
 *
 * level_hits does the same for a level camera's image as _level_hits there (then _within): each
 * primitive intersected once per image column where it can be, in units of horizontal distance.
 */
#define IMPL "nearest_hits_impl.h"
#include "../each_float_type.h"
