"""CROMA: the fused SDPA attention computes the library's attention; the vectorised ALiBi bias."""

from __future__ import annotations

import pytest
import torch

from e2s_utils.models import build_extractor
from e2s_utils.models.croma import alibi_2d, use_library_attention, use_sdpa_attention


@pytest.mark.parametrize(("heads", "patches"), [(16, 64), (16, 225), (8, 36)])
def test_alibi_matches_library(heads: int, patches: int) -> None:
    from torchgeo.models.croma import get_2dalibi

    assert torch.equal(alibi_2d(heads, patches), get_2dalibi(heads, patches))


def test_sdpa_modules_keep_parameters_and_state_dict_keys() -> None:
    model = build_extractor("croma", size="micro")
    keys = list(model.net.state_dict())
    switched = use_library_attention(model.net)
    assert switched > 0 and list(model.net.state_dict()) == keys
    assert use_sdpa_attention(model.net) == switched


def test_sdpa_attention_matches_library_to_1e5() -> None:
    from torchgeo.models import croma

    torch.manual_seed(0)
    attn = croma.Attention(dim=64, num_heads=16).eval()
    cross = croma.CrossAttention(dim=64, num_heads=16).eval()
    x, ctx = torch.randn(3, 49, 64), torch.randn(3, 49, 64)
    bias = alibi_2d(16, 49)
    with torch.no_grad():
        ref_self, ref_cross = attn(x, bias), cross(x, ctx, bias)
        holder = torch.nn.ModuleList([attn, cross])
        assert use_sdpa_attention(holder) == 2
        assert type(attn).__name__ == "SDPAAttention"
        new_self, new_cross = attn(x, bias), cross(x, ctx, bias)
    torch.testing.assert_close(new_self, ref_self, atol=1e-5, rtol=0)
    torch.testing.assert_close(new_cross, ref_cross, atol=1e-5, rtol=0)


def test_sdpa_extractor_matches_library_extractor() -> None:
    g = torch.Generator().manual_seed(1)
    cubes = {
        "s1": -15 + 4 * torch.randn(2, 4, 2, 264, 264, generator=g),
        "s2l2a": 3000 * torch.rand(2, 4, 12, 264, 264, generator=g),
    }
    model = build_extractor("croma", size="micro")
    assert model.attention == "sdpa"
    with torch.inference_mode():
        fused = model(cubes)
        model.set_attention("library")
        library = model(cubes)
    torch.testing.assert_close(fused, library, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="attention must be"):
        model.set_attention("flash")  # type: ignore[arg-type]


# (offset, statistics table, band order) of each group, per preset; the means and stds are
# pinned by value so a change of table anywhere is caught (SPEC 1.4 and 6.2)
L2A_ORDER = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")


@pytest.mark.parametrize(
    ("preset", "table", "b02", "vh"),
    [
        # the final public pipeline: v1.1 statistics, no +1000 shift
        ("as_published_code", "v1.1", (1924.863, 1201.092), (-20.265, 5.872)),
        # consistent: no shift, raw downstream statistics
        ("as_intended", "downstream", (917.472, 1604.422), (-19.243, 5.479)),
    ],
)
def test_croma_normalisation_per_preset(preset: str, table: str, b02, vh) -> None:
    from e2s_utils.models import get_spec
    from e2s_utils.models.common import prepare_group

    optical, sar = get_spec("croma").recipe(preset).groups
    assert (optical.modality, optical.bands, optical.offset, optical.stats) == (
        "s2l2a",
        L2A_ORDER,
        0.0,
        table,
    )
    assert (sar.modality, sar.bands, sar.offset, sar.stats) == ("s1", ("VV", "VH"), 0.0, table)
    # the numbers the network receives: (raw - mean) / std, no offset
    cube = torch.zeros(1, 4, 12, 8, 8)
    cube[:, :, 1] = 2000.0  # B02
    s1 = torch.full((1, 4, 2, 8, 8), -18.0)
    x = prepare_group({"s2l2a": cube}, optical, 8)
    torch.testing.assert_close(x[0, 0, 1, 0, 0], torch.tensor((2000.0 - b02[0]) / b02[1]))
    y = prepare_group({"s1": s1}, sar, 8)
    torch.testing.assert_close(y[0, 0, 1, 0, 0], torch.tensor((-18.0 - vh[0]) / vh[1]))
