"""The exact-path options: one flat mapping resolved once into typed, frozen records."""

import dataclasses

import pytest

from tlspipe.path import DEFAULTS, GLASS_DEFAULTS, NEB_DEFAULTS, PROFILE_DEFAULTS, resolve_config
from tlspipe.path.options import GlassOptions, NEBOptions, PairOptions, PathOptions, ProfileOptions


def test_defaults_are_the_records_defaults():
    assert DEFAULTS == {**NEB_DEFAULTS, **PROFILE_DEFAULTS, **GLASS_DEFAULTS, "units": "paper",
                        "tls_threshold": 0.0015}
    assert resolve_config(None).as_dict() == DEFAULTS
    assert list(resolve_config({}).as_dict()) == list(DEFAULTS)  # the order of the metadata's config


def test_each_key_reaches_its_part():
    o = resolve_config({"images": 9, "grid_points": 11, "skin": 0.2, "units": "nip", "tls_threshold": 0.01})
    assert (o.neb.images, o.profile.grid_points, o.glass.skin, o.units, o.tls_threshold) == (9, 11, 0.2, "nip", 0.01)
    assert o.pair == PairOptions(o.neb, o.profile, o.glass)
    assert o.physics() == {k: v for k, v in o.as_dict().items() if k != "tls_threshold"}
    assert resolve_config(o) is o
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.units = "argon"


def test_unknown_keys_are_named():
    with pytest.raises(ValueError, match=r"unknown exact-path option\(s\) \['imgs'\]"):
        resolve_config({"imgs": 9})
    with pytest.raises(TypeError, match=r"unknown options \['units'\]"):
        PairOptions.from_dict({"units": "paper"})
    with pytest.raises(TypeError, match=r"unknown NEB options \['skin'\]"):
        NEBOptions.from_dict({"skin": 0.3})
    with pytest.raises(TypeError, match="unknown profile options"):
        ProfileOptions.of(None, images=3)
    with pytest.raises(TypeError, match="unknown glass options"):
        GlassOptions.from_dict({"tol": 1.0})


def test_validated_when_built():
    with pytest.raises(ValueError, match="at least 3 images"):
        resolve_config({"images": 2})
    with pytest.raises(ValueError, match="unknown unit preset"):
        resolve_config({"units": "kelvin"})


def test_overrides_keep_the_rest():
    o = resolve_config({"units": "argon", "tol": 1e-3})
    p = PairOptions.of(o, images=7)
    assert isinstance(p, PathOptions) and p.units == "argon" and p.neb.tol == 1e-3 and p.neb.images == 7
    assert NEBOptions.of(o.neb) is o.neb
