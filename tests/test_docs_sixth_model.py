"""The sixth-model example of docs/adding_a_model.md runs as written: it builds, extracts and fuses."""

from __future__ import annotations

import re
import sys
import types

import numpy as np
import pytest
import torch

from e2s_utils import fusion, paths
from e2s_utils.models import build_extractor, get_spec, list_models, registry

DOC = paths.REPO_ROOT / "docs" / "adding_a_model.md"


@pytest.fixture
def sixth_model():
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert code, "the page has no python code block"
    module = types.ModuleType("e2s_utils.models.rgbvit")
    sys.modules[module.__name__] = module
    try:
        exec(compile(code.group(1), str(DOC), "exec"), module.__dict__)
        yield module
    finally:
        registry._REGISTRY.pop("rgbvit", None)
        sys.modules.pop(module.__name__, None)


def test_documented_model_registers_builds_and_fuses(sixth_model) -> None:
    assert "rgbvit" in list_models("foundation")
    spec = get_spec("rgbvit")
    assert spec.output_shape("as_intended", "micro") == (64, 4)
    model = build_extractor("rgbvit", size="micro", seed=0).eval()
    g = torch.Generator().manual_seed(0)
    cubes = {"s2l2a": 3000 * torch.rand(2, 4, 12, 264, 264, generator=g)}
    with torch.inference_mode():
        out = model(cubes)
    assert out.shape == (2, 64, 4) and torch.isfinite(out).all()
    assert model.weights_identity.startswith("random init")
    # it fuses with another model like any of the five
    rng = np.random.default_rng(0)
    shapes = {"dofa": (32, 4), "rgbvit": (64, 4)}
    cfg = fusion.FusionConfig(models=("rgbvit", "dofa"), hidden=16, out_dim=8)
    assert cfg.models == ("dofa", "rgbvit") and cfg.loss_weights["rgbvit"] == 1.0
    net = fusion.build_model(cfg, shapes)
    x = {
        m: torch.as_tensor(rng.standard_normal((3, c, t)), dtype=torch.float32)
        for m, (c, t) in shapes.items()
    }
    z, recon = net.eval()(net.flatten(x))
    assert z.shape == (3, 8) and net.split(recon)["rgbvit"].shape == (3, 64, 4)


def test_a_checkpoint_that_does_not_fit_the_documented_model_fails(sixth_model, tmp_path) -> None:
    from e2s_utils.models import CheckpointError

    model = build_extractor("rgbvit", size="micro", seed=0)
    state = {k: v for k, v in model.net.state_dict().items() if not k.startswith("blocks.1.")}
    path = tmp_path / "rgbvit_small.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="blocks.1"):
        model.load_checkpoint(path)
