"""The compressor's configuration: canonical models, the registry's loss weights, hash, schedule."""

from __future__ import annotations

import json

import pytest

from e2s_utils.fusion import FusionConfig, FusionError, default_loss_weight


def test_loss_weights_defaults_and_override() -> None:
    cfg = FusionConfig(models=("scalemae", "dofa", "croma", "prithvi", "copernicusfm", "rcf"))
    assert cfg.models == ("copernicusfm", "dofa", "croma", "prithvi", "scalemae", "rcf")
    assert cfg.loss_weights == {
        "copernicusfm": 1.0,
        "dofa": 1.0,
        "croma": 0.5,
        "prithvi": 2.0,
        "scalemae": 0.75,
        "rcf": 1.0,
    }
    cfg2 = FusionConfig(models=("dofa", "croma"), loss_weights={"croma": 3.0})
    assert cfg2.loss_weights == {"dofa": 1.0, "croma": 3.0}
    assert default_loss_weight("prithvi") == 2.0 and default_loss_weight("unregistered") == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"models": ("dofa",), "loss_weights": {"croma": 1.0}}, "not among models"),
        ({"models": ("dofa",), "loss_weights": {"dofa": -1.0}}, "finite"),
        ({"models": ("dofa",), "loss_weights": {"dofa": 0.0}}, "not all zero"),
        ({"models": ("dofa", "dofa")}, "repeats"),
        ({"models": "dofa"}, "not the string"),
        ({"models": ("dofa",), "hidden": 0}, "hidden must be >= 1"),
        ({"models": ("dofa",), "epochs": -1}, "epochs must be >= 0"),
        ({"models": ("dofa",), "dropout": 1.0}, "dropout"),
        ({"models": ("dofa",), "milestones": (0.9, 0.6)}, "milestones"),
        ({"models": ("dofa",), "milestones": (0.0,)}, "milestones"),
        ({"models": ("dofa",), "epochs": 10, "checkpoint_epochs": (20,)}, "checkpoint_epochs"),
    ],
)
def test_invalid_configurations_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(FusionError, match=match):
        FusionConfig(**kwargs)


def test_config_hash_and_dict_round_trip() -> None:
    a = FusionConfig(models=("croma", "dofa"))
    b = FusionConfig(models=("dofa", "croma"))
    assert a.hash() == b.hash() and len(a.hash()) == 16
    assert FusionConfig(models=("dofa", "croma"), seed=1).hash() != a.hash()
    assert FusionConfig.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    c = FusionConfig(models=("dofa",), epochs=9, checkpoint_epochs=(3, 1))
    assert FusionConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


def test_schedule_and_milestones() -> None:
    a = FusionConfig(models=("dofa",))
    # the paper: decay at epochs 96 and 144 of 160
    assert a.milestone_steps(10) == [960, 1440] and a.milestone_epochs() == [96.0, 144.0]
    assert a.checkpoint_schedule() == list(range(0, 161, 5))
    c = FusionConfig(models=("dofa",), epochs=7, checkpoint_every=3)
    assert c.checkpoint_schedule() == [0, 3, 6, 7]
    d = FusionConfig(models=("dofa",), epochs=100, checkpoint_epochs=(50, 1, 10, 3, 3))
    assert d.checkpoint_epochs == (1, 3, 10, 50)
    assert d.checkpoint_schedule() == [0, 1, 3, 10, 50, 100]
    flat = FusionConfig(models=("dofa",), milestones=())
    assert flat.constant_lr and flat.milestone_epochs() == []
    assert FusionConfig(models=("dofa",), gamma=1.0).constant_lr
