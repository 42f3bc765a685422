import torch

from dgm import config


def test_pick_follows_fast_mode(monkeypatch):
    monkeypatch.setenv("DGM_FAST", "1")
    assert config.fast() and config.pick(full=20_000, fast=200) == 200
    monkeypatch.setenv("DGM_FAST", "0")
    assert not config.fast() and config.pick(full=20_000, fast=200) == 20_000
    monkeypatch.delenv("DGM_FAST")
    assert config.mode() == "full"


def test_device_is_usable_and_can_be_forced(monkeypatch):
    assert torch.zeros(1, device=config.device()).device.type == config.device().type
    monkeypatch.setenv("DGM_DEVICE", "cpu")
    assert config.device() == torch.device("cpu")


def test_data_dir_prefers_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DGM_DATA", str(tmp_path))
    assert config.data_dir() == tmp_path
    monkeypatch.delenv("DGM_DATA")
    assert config.data_dir() == config.repo_root() / "data"


def test_seed_makes_draws_repeatable():
    g1 = config.seed(3)
    a = torch.randn(4), torch.randn(4, generator=g1)
    g2 = config.seed(3)
    b = torch.randn(4), torch.randn(4, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_seed_rejects_non_int():
    import pytest

    with pytest.raises(TypeError, match="seed"):
        config.seed(1.5)


def test_interactive_is_off_outside_a_kernel_and_when_static(monkeypatch):
    monkeypatch.delenv("DGM_STATIC", raising=False)
    assert config.interactive() is False  # pytest is no IPython kernel
    monkeypatch.setenv("DGM_STATIC", "1")
    assert config.interactive() is False


def test_a_headless_progress_bar_prints_one_final_line_and_nothing_live(monkeypatch, capsys):
    """Executed solutions keep a bar's last state (its count, time and postfix), never the
    frozen "0%" frame of a live bar; a bar with leave=False leaves nothing."""
    monkeypatch.setenv("DGM_STATIC", "1")
    bar = config.progress_bar(total=5, desc="train")
    for _ in range(5):
        bar.update(1)
    bar.set_postfix({"loss": "0.25"})
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""  # silent while it runs
    bar.close()
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 1 and out.err == ""
    assert lines[0].startswith("train: 100%") and "5/5" in lines[0] and "loss=0.25" in lines[0]
    assert list(config.progress_bar(range(3), desc="EM", leave=False)) == [0, 1, 2]
    assert capsys.readouterr().out == ""
    monkeypatch.delenv("DGM_STATIC")
    from tqdm.auto import tqdm

    live = config.progress_bar(range(2), desc="live", disable=True)
    assert isinstance(live, tqdm)


def test_training_with_a_headless_bar_ends_with_the_run_in_one_line(monkeypatch, capsys):
    from dgm import train

    monkeypatch.setenv("DGM_STATIC", "1")
    train.train(lambda i: {"loss": torch.tensor(1.0 / (i + 1))}, 20, desc="toy", log_every=5)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("toy: 100%") and "20/20" in lines[0]


def test_the_banner_names_the_data_folder_by_its_source_not_by_this_machine_path(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("DGM_DATA", str(tmp_path / "secret" / "place"))
    line = config.describe()
    assert "data=$DGM_DATA" in line and str(tmp_path) not in line
    monkeypatch.delenv("DGM_DATA")
    expected = "data=<repo>/data" if config.repo_root() is not None else "data=~/.cache/dgm"
    assert config.describe().endswith(expected)
