"""Print the vehicle presets and their derived quantities (the table in the dynamics page).

Run: python docs/examples/vehicle_presets.py
"""

from diffenvs.robots.quadrotor import DEFAULT_VEHICLE, PRESETS, mixer_matrix

print("default vehicle:", DEFAULT_VEHICLE)
for name, p in PRESETS.items():
    print(f"{name}: mass {p.mass} kg, inertia {tuple(round(j, 6) for j in p.inertia)} kg m^2, "
          f"arm {p.arm_length} m, kappa {p.kappa} m")
    print(f"  max thrust {p.max_thrust:.4f} N/rotor, min thrust {p.min_thrust} N/rotor, "
          f"thrust-to-weight {p.thrust_to_weight:.3f}")
    print(f"  hover thrust {p.hover_thrust:.4f} N/rotor, hover action {p.hover_action:.4f}")
    print(f"  motor time constant {p.motor_time_constant} s, drag {p.drag} N s/m, gravity {p.gravity} m/s^2")
    print("  mixer M (rows T, tau_x, tau_y, tau_z):")
    for row in mixer_matrix(p):
        print("    " + "  ".join(f"{v:+.6f}" for v in row))
