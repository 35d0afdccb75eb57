import pytest
from pydantic import ValidationError

from lumograph.models.common.backends import select_backend
from lumograph.models.common.errors import BackendUnavailable, InvalidOptions
from lumograph.models.segmenter import sam
from lumograph.serve.schemas import LightboxOptions
from lumograph.serve.uploads import parse_options


def test_defaults_are_amazon_jpeg_soft_shadow():
    o = LightboxOptions()
    assert (o.marketplace, o.format, o.shadow, o.transparent) == ("amazon", "jpeg", "soft", False)


@pytest.mark.parametrize(
    "fields, quoted",
    [
        ({"marketplace": "walmart"}, "walmart"),
        ({"size": "50"}, "50"),
        ({"fill_ratio": "1.5"}, "1.5"),
        ({"shadow": "neon"}, "neon"),
        ({"format": "gif"}, "gif"),
        ({"transparent": "true"}, "jpeg"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_options_are_rejected_quoting_the_value(fields, quoted):
    with pytest.raises(InvalidOptions) as info:
        parse_options(LightboxOptions, fields)
    assert quoted in info.value.message
    assert info.value.code == "invalid_options"


def test_form_strings_are_coerced_not_rewritten():
    o = parse_options(LightboxOptions, {"size": "1500", "transparent": "true", "format": "png", "fill_ratio": "0.9"})
    assert (o.size, o.transparent, o.fill_ratio) == (1500, True, 0.9)
    with pytest.raises(ValidationError):
        LightboxOptions(quality=101)


def test_backend_selection_auto_without_weights_is_classical():
    sel = select_backend("segmenter", "auto", None)
    assert sel.name == "classical" and "no weights" in sel.reason


def test_unknown_or_weightless_learned_backend_fails_loudly(tmp_path, monkeypatch):
    with pytest.raises(BackendUnavailable) as info:
        select_backend("segmenter", "sam", str(tmp_path))
    assert "sam" in info.value.message
    monkeypatch.setattr(sam, "missing_weights", lambda root: str(root / "sam" / "model.pth"))
    with pytest.raises(BackendUnavailable) as info:
        select_backend("segmenter", "sam", str(tmp_path))
    assert str(tmp_path / "sam" / "model.pth") in info.value.message
    assert select_backend("segmenter", "auto", str(tmp_path)).name == "classical"
    monkeypatch.setattr(sam, "missing_weights", lambda root: None)
    assert select_backend("segmenter", "auto", str(tmp_path)).name == "sam"
