"""Read the part of an MJCF (MuJoCo XML) file that :class:`ArticulatedModel` describes.

Supported: ``<compiler angle>``, nested ``<default class>`` blocks with ``childclass`` and
``class`` inheritance for ``joint``, ``geom`` and ``position``; bodies with ``pos`` and
``quat``; ``<inertial>`` with ``mass``, ``pos``, ``quat`` and ``diaginertia`` or
``fullinertia``; one ``<freejoint/>`` (or ``<joint type="free"/>``) on the single root
body; one hinge per other body (``axis``, ``damping``, ``armature``, ``range``; at the body
origin); sphere geoms of a chosen default class (``foot`` by default) as the contact
points; ``<position>`` actuators (``kp``, ``kv``, ``forcerange``); ``<keyframe>`` poses
(``qpos``). Everything else (visual
geoms, meshes, materials, lights, other collision geoms, ``frictionloss``, contact
settings) is ignored. Anything that would change the dynamics and is not supported (a
``euler`` orientation, a hinge away from its body origin, two joints in a body, a slide
joint) is an error naming the element.

No MuJoCo needed: this is plain :mod:`xml.etree`.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET

import numpy as np
import torch

from ..rotations import quat_to_rotmat
from .model import ArticulatedModel


def _floats(text: str | None, n: int | None = None, what: str = "") -> np.ndarray | None:
    if text is None:
        return None
    v = np.array([float(x) for x in text.split()])
    if n is not None and v.size != n:
        raise ValueError(f"{what}: expected {n} numbers, got {text!r}")
    return v


class _Defaults:
    """``<default>`` classes: per class and element tag, the attributes (inherited from
    enclosing classes)."""

    def __init__(self, root: ET.Element):
        self.classes: dict[str, dict[str, dict[str, str]]] = {}
        top = root.find("default")
        self._walk(top, "main", {}) if top is not None else self.classes.setdefault("main", {})

    def _walk(self, node: ET.Element, name: str, inherited: dict[str, dict[str, str]]):
        own = {tag: dict(attrs) for tag, attrs in inherited.items()}
        for child in node:
            if child.tag != "default":
                own.setdefault(child.tag, {}).update(child.attrib)
        self.classes[name] = own
        for child in node:
            if child.tag == "default":
                self._walk(child, child.get("class", name), own)

    def attrs(self, element: ET.Element, childclass: str) -> dict[str, str]:
        """The element's attributes over its class's defaults."""
        cls = element.get("class", childclass)
        if cls not in self.classes:
            raise ValueError(f"<{element.tag}> uses unknown default class {cls!r}")
        return {**self.classes[cls].get(element.tag, {}), **element.attrib}


def load_mjcf(path: str, foot_class: str = "foot", gravity: tuple[float, float, float] = (0.0, 0.0, -9.81)
              ) -> ArticulatedModel:
    """Load a floating-base robot from an MJCF file (see the module docstring for the subset).

    Args:
        path: the ``.xml`` file.
        foot_class: the default class of the sphere geoms that touch the ground.
        gravity: m/s^2 (the file's ``<option gravity>`` when it sets one).
    """
    root = ET.parse(path).getroot()
    compiler = root.find("compiler")
    degrees = compiler is None or compiler.get("angle", "degree") == "degree"
    option = root.find("option")
    if option is not None and option.get("gravity"):
        gravity = tuple(_floats(option.get("gravity"), 3, "option gravity"))
    defaults = _Defaults(root)
    world = root.find("worldbody")
    roots = world.findall("body") if world is not None else []
    if len(roots) != 1:
        raise ValueError(f"{path}: need exactly one root body under <worldbody>, found {len(roots)}")

    bodies = []  # dicts, depth-first
    joints = []  # file order

    def visit(node: ET.Element, parent: int, childclass: str):
        childclass = node.get("childclass", childclass)
        name = node.get("name", f"body{len(bodies)}")
        if node.get("euler") or node.get("axisangle") or node.get("xyaxes") or node.get("zaxis"):
            raise ValueError(f"body {name!r}: only quat orientations are supported")
        body = {"name": name, "parent": parent, "pos": _floats(node.get("pos", "0 0 0"), 3, name),
                "quat": _floats(node.get("quat", "1 0 0 0"), 4, name), "feet": []}
        inertial = node.find("inertial")
        if inertial is None:
            raise ValueError(f"body {name!r} has no <inertial> (inferring inertia from geoms is not supported)")
        body["mass"] = float(inertial.get("mass"))
        body["com"] = _floats(inertial.get("pos", "0 0 0"), 3, name)
        quat = _floats(inertial.get("quat", "1 0 0 0"), 4, name)
        rot = quat_to_rotmat(torch.as_tensor(quat / np.linalg.norm(quat))).numpy()
        if inertial.get("fullinertia") is not None:
            xx, yy, zz, xy, xz, yz = _floats(inertial.get("fullinertia"), 6, name)
            inertia = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
        else:
            inertia = np.diag(_floats(inertial.get("diaginertia"), 3, name))
        body["inertia"] = rot @ inertia @ rot.T
        own = []
        for j in node:
            if j.tag == "freejoint" or (j.tag == "joint" and defaults.attrs(j, childclass).get("type") == "free"):
                own.append({"type": "free"})
            elif j.tag == "joint":
                a = defaults.attrs(j, childclass)
                if a.get("type", "hinge") != "hinge":
                    raise ValueError(f"joint {a.get('name')!r}: type {a.get('type')!r} is not supported (hinge only)")
                if np.any(_floats(a.get("pos", "0 0 0"), 3) != 0):
                    raise ValueError(f"joint {a.get('name')!r}: a hinge away from its body origin is not supported")
                axis = _floats(a.get("axis", "0 0 1"), 3, a.get("name", ""))
                rng = _floats(a.get("range", "0 0"), 2, a.get("name", ""))
                own.append({"type": "hinge", "name": a.get("name", f"joint{len(joints)}"), "body": len(bodies),
                            "axis": axis / np.linalg.norm(axis), "damping": float(a.get("damping", 0)),
                            "armature": float(a.get("armature", 0)),
                            "range": np.radians(rng) if degrees else rng})
        if parent < 0 and [j["type"] for j in own] != ["free"]:
            raise ValueError(f"root body {name!r} needs one free joint")
        if parent >= 0 and [j["type"] for j in own] != ["hinge"]:
            raise ValueError(f"body {name!r} needs exactly one hinge joint, found {[j['type'] for j in own]}")
        joints.extend(j for j in own if j["type"] == "hinge")
        for g in node.findall("geom"):
            a = defaults.attrs(g, childclass)
            if g.get("class", childclass) == foot_class:
                if a.get("type", "sphere") != "sphere":
                    raise ValueError(f"foot geom in body {name!r} must be a sphere")
                body["feet"].append({"name": g.get("name", f"{name}_foot"), "pos": _floats(a.get("pos", "0 0 0"), 3),
                                     "radius": float(a["size"].split()[0])})
        index = len(bodies)
        bodies.append(body)
        for child in node.findall("body"):
            visit(child, index, childclass)

    visit(roots[0], -1, "main")
    actuated = {}
    actuators = root.find("actuator")
    for act in (actuators if actuators is not None else []):
        a = defaults.attrs(act, "main")
        if act.tag != "position":
            raise ValueError(f"actuator {a.get('name')!r}: <{act.tag}> is not supported (position only)")
        fr = _floats(a.get("forcerange"), 2) if a.get("forcerange") else np.array([-math.inf, math.inf])
        actuated[a["joint"]] = (float(a.get("kp", 1)), float(a.get("kv", 0)), float(max(-fr[0], fr[1])))

    # Level order: breadth first, children in file order.
    depth = []
    for b in bodies:
        depth.append(0 if b["parent"] < 0 else depth[b["parent"]] + 1)
    order = sorted(range(len(bodies)), key=lambda b: (depth[b], b))
    new = {old: i for i, old in enumerate(order)}
    levels, start = [], 0
    for d in range(max(depth) + 1):
        count = sum(1 for x in depth if x == d)
        levels.append((start, start + count))
        start += count
    ob = [bodies[i] for i in order]
    feet = [(new[i], f) for i in range(len(bodies)) for f in bodies[i]["feet"]]
    names = [j["name"] for j in joints]
    keys = root.find("keyframe")
    keyframes = {k.get("name", f"key{i}"): _floats(k.get("qpos"), 7 + len(joints), f"keyframe {k.get('name')}")
                 for i, k in enumerate(keys.findall("key") if keys is not None else []) if k.get("qpos")}
    return ArticulatedModel(
        body_names=tuple(b["name"] for b in ob),
        parent=np.array([-1 if b["parent"] < 0 else new[b["parent"]] for b in ob]),
        levels=tuple(levels),
        body_pos=np.stack([b["pos"] for b in ob]),
        body_quat=np.stack([b["quat"] / np.linalg.norm(b["quat"]) for b in ob]),
        mass=np.array([b["mass"] for b in ob]), com=np.stack([b["com"] for b in ob]),
        inertia=np.stack([b["inertia"] for b in ob]),
        joint_names=tuple(names), joint_body=np.array([new[j["body"]] for j in joints]),
        joint_axis=np.stack([j["axis"] for j in joints]), damping=np.array([j["damping"] for j in joints]),
        armature=np.array([j["armature"] for j in joints]), joint_range=np.stack([j["range"] for j in joints]),
        foot_names=tuple(f["name"] for _, f in feet), foot_body=np.array([b for b, _ in feet], dtype=np.int64),
        foot_pos=np.stack([f["pos"] for _, f in feet]) if feet else np.zeros((0, 3)),
        foot_radius=np.array([f["radius"] for _, f in feet]),
        kp=np.array([actuated.get(n, (0.0, 0.0, math.inf))[0] for n in names]),
        kv=np.array([actuated.get(n, (0.0, 0.0, math.inf))[1] for n in names]),
        force_limit=np.array([actuated.get(n, (0.0, 0.0, math.inf))[2] for n in names]),
        gravity=np.asarray(gravity, dtype=np.float64), keyframes=keyframes, source=os.path.basename(path))
