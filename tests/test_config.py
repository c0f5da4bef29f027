import pytest

from dmpbench.config import check_keys, load_config_file, merge, parse_set
from dmpbench.errors import DmpbenchError


def test_set_parses_yaml_scalars():
    cfg = parse_set(["method.epochs=10", "method.lr=0.5", "task.targets=[a, b]", "method.csc=true"])
    assert cfg["method"] == {"epochs": 10, "lr": 0.5, "csc": True}
    assert cfg["task"] == {"targets": ["a", "b"]}


@pytest.mark.parametrize("bad", ["epochs=10", "method.epochs", "model.epochs=1", "method.=3"])
def test_invalid_set_is_one_line_error(bad):
    with pytest.raises(DmpbenchError, match="invalid --set"):
        parse_set([bad])


def test_config_file_and_merge_order(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("method:\n  epochs: 5\n  lr: 0.1\ntask:\n  shots: 4\n")
    merged = merge(load_config_file(path), parse_set(["method.epochs=7"]))
    assert merged["method"] == {"epochs": 7, "lr": 0.1}
    assert merged["task"] == {"shots": 4}


@pytest.mark.parametrize(
    "text,message",
    [("method: [1, 2", "not valid YAML"), ("- 1\n- 2\n", "must be a mapping"), ("model:\n  a: 1\n", "unknown section 'model'"), ("method: 3\n", "must be a mapping")],
)
def test_malformed_config_files(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(DmpbenchError, match=message):
        load_config_file(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(DmpbenchError, match="cannot read config file"):
        load_config_file(tmp_path / "nope.yaml")


def test_unknown_setting_lists_the_known_ones():
    with pytest.raises(DmpbenchError, match=r"method 'coop' has no setting 'epoch' \(settings: epochs, lr\)"):
        check_keys("method", "coop", {"epoch": 1}, {"epochs": 50, "lr": 0.002})
