"""The benchmark commands run end to end (tiny sizes, CPU) and write complete records;
the README's results table is the one generated from the committed records."""

import contextlib
import importlib
import io
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch

import dgm
from benchmarks import diffusion as bench_diffusion
from benchmarks import records
from dgm.course import records as build

ROOT = Path(__file__).resolve().parents[1]


def run(*args, fresh: bool = False) -> str:
    """``python -m benchmarks.X args...`` on the CPU; its stdout. In this process, its
    random state and thread count put back after (a fresh interpreter spends two seconds
    importing torch), or, with ``fresh``, as a command line (the em benchmark's test)."""
    if fresh:
        env = {**os.environ, "DGM_DEVICE": "cpu"}
        out = subprocess.run(
            [sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout
    module, printed, threads = (
        importlib.import_module(args[0]),
        io.StringIO(),
        torch.get_num_threads(),
    )
    try:
        with (
            mock.patch.dict(os.environ, {"DGM_DEVICE": "cpu"}),
            torch.random.fork_rng(),
            contextlib.redirect_stdout(printed),
        ):
            code = module.main(list(args[1:]))
    finally:
        torch.set_num_threads(threads)
    assert not code, printed.getvalue()
    return printed.getvalue()


def test_vae_benchmark_trains_resumes_evaluates_and_writes_a_record(tmp_path):
    ckpt, results = tmp_path / "vae.pt", tmp_path / "results"
    common = ["--max-steps", "40", "--checkpoint", str(ckpt), "--results", str(results)]
    small = ["--k-eval", "10", "--n-eval", "30"]
    first = run("benchmarks.vae", "train", "--minutes", "0.0001", *common, *small)
    assert "run the same command to resume" in first and not (results / "vae.json").exists()
    run("benchmarks.vae", "train", *common, *small)  # resumes and finishes
    rec = json.loads((results / "vae.json").read_text())
    assert len(rec) == 1 and set(records.FIELDS) <= set(rec[0])
    assert rec[0]["paper_value"] is None  # not the paper's protocol (K=5000 on 10,000 digits)
    assert rec[0]["epochs"] == round(40 / 600, 2) and rec[0]["value"] > 0
    run("benchmarks.vae", "evaluate", *common, "--k-eval", "20", "--n-eval", "30")
    rec = json.loads((results / "vae.json").read_text())
    assert len(rec) == 2 and {r["metric"] for r in rec} == {
        "test NLL (nats, K=10, first 30 test digits)",
        "test NLL (nats, K=20, first 30 test digits)",
    }


def test_readme_likelihood_table_is_generated_and_names_each_estimator(tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert build.likelihood_table() in readme

    def row(model, metric, value):
        return records.make_record(
            model=model,
            metric=metric,
            value=value,
            paper_value=None,
            paper="-",
            epochs=1,
            train_seconds=1,
            device="cpu",
        )

    fake = [
        row("m", "test NLL (nats, K=5000)", 90.0),
        row("p", "test NLL (nats, exact, first 20 test digits)", 100.0),
        row("p", "seconds to sample 100 digits", 1.0),
    ]
    records.write("vae", fake[:1], tmp_path)
    records.write("pixelcnn", fake[1:], tmp_path)
    rows = build.likelihood_rows(tmp_path)
    assert [(r["lecture"], r["estimator"]) for r in rows] == [
        ("03", "importance sampling, K=5000"),
        ("08", "exact, first 20 test digits"),
    ]
    assert f"| {90 / (784 * math.log(2)):.4f} |" in build.likelihood_table(tmp_path)
    more = [
        records.make_record(
            model=f"mixture of {k}",
            metric="test NLL (nats, exact)",
            value=v,
            paper_value=None,
            paper="-",
            epochs=1,
            train_seconds=1,
            device="cpu",
        )
        for k, v in [(10, 168.0), (100, 137.7), (50, 144.5)]
    ]
    records.write("em", more, tmp_path)
    assert [r["nats"] for r in build.likelihood_rows(tmp_path)][:3] == [168.0, 144.5, 137.7]


def test_a_record_file_is_replaced_whole_or_not_at_all(tmp_path):
    """A write that fails half-way (here: a value JSON cannot hold) leaves the old file as it
    was and no temporary file beside it."""
    import json

    import pytest

    from dgm.course.records import write_json

    path = tmp_path / "vae.json"
    write_json(path, [{"value": 1.0}])
    with pytest.raises(TypeError):
        write_json(path, [{"value": object()}])
    assert json.loads(path.read_text()) == [{"value": 1.0}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vae.json"]
    write_json(path, [{"value": 2.0}])
    assert json.loads(path.read_text()) == [{"value": 2.0}]


def test_a_sweep_stopped_at_a_seed_goes_on_from_there(tmp_path, monkeypatch):
    """Seeds 0-1 finish, seed 2 fails: run again, the sweep trains seeds 2-3 only, and
    writes one record from all four. At another commit, or with other arguments, it trains
    all again; in a checkout with uncommitted code, nothing is kept."""
    import argparse

    import pytest

    from dgm.course import records as course_records

    monkeypatch.setattr(course_records, "commit", lambda: "abc1234")
    args = argparse.Namespace(datasets=["ring"], variants=["gan"], results=str(tmp_path), lr=1)
    trained, fail_at = [], [2]

    def run_one(dataset, variant, seed, args, device):
        if seed in fail_at:
            fail_at.clear()
            raise RuntimeError("killed")
        trained.append(seed)
        return {"value": float(seed)}

    def summarise(dataset, variant, runs, args, device):
        return [
            records.make_record(
                model=dataset,
                metric=variant,
                value=sum(r["value"] for r in runs),
                paper_value=None,
                paper="-",
                epochs=1,
                train_seconds=1,
                device="cpu",
            )
        ]

    def sweep():
        return records.sweep("gan", args, "cpu", run_one, summarise, lambda *a: None, range(4))

    with pytest.raises(RuntimeError, match="killed"):
        sweep()
    assert trained == [0, 1]
    [rec] = sweep()
    assert trained == [0, 1, 2, 3] and rec["value"] == 6.0
    sweep()
    assert trained == [0, 1, 2, 3]  # all four kept
    args.lr = 2
    sweep()
    assert trained[4:] == [0, 1, 2, 3]  # other arguments: trained again
    monkeypatch.setattr(course_records, "commit", lambda: "abc1234+dirty")
    sweep()
    assert trained[8:] == [0, 1, 2, 3]


def test_every_field_of_every_record_is_declared():
    """What a committed record holds is either required or declared with its meaning; a
    field that is neither is refused when a record is made."""
    import pytest

    from dgm.course.records import FIELDS, OPTIONAL_FIELDS

    for path in sorted(records.RESULTS.glob("*.json")):
        if path.name == "notebooks.json":
            continue
        for r in json.loads(path.read_text()):
            assert set(FIELDS) <= set(r), (path.name, r["model"])
            assert set(r) - set(FIELDS) <= set(OPTIONAL_FIELDS), (path.name, set(r) - set(FIELDS))
    with pytest.raises(ValueError, match=r"fields \['colour'\] are not declared"):
        records.make_record(
            model="m",
            metric="x",
            value=1.0,
            paper_value=None,
            paper="-",
            epochs=1,
            train_seconds=1,
            device="cpu",
            colour="red",
        )


def test_records_need_every_field():
    import pytest

    with pytest.raises(ValueError, match="missing fields"):
        records.make_record(model="m", metric="x", value=1.0)


def test_readme_results_table_is_generated_from_the_records():
    readme = (ROOT / "README.md").read_text()
    assert build.results_table() in readme
    assert build.assignments_table() in readme  # the builds' calibration: its own table
    for path in (ROOT / "benchmarks" / "results").glob("*.json"):
        if path.name == "notebooks.json":
            continue
        for r in json.loads(path.read_text()):
            assert set(records.FIELDS) <= set(r), path
            if path.name != "assignments.json":
                assert f"| {build.result_value(r)} |" in readme


def test_wake_sleep_benchmark_runs_both_models(tmp_path):
    for model in ("ws", "rws"):
        run(
            "benchmarks.wake_sleep",
            "train",
            "--model",
            model,
            "--max-steps",
            "20",
            "--k-eval",
            "10",
            "--n-eval",
            "30",
            "--checkpoint",
            str(tmp_path / f"{model}.pt"),
            "--results",
            str(tmp_path),
        )
    rec = json.loads((tmp_path / "wake_sleep.json").read_text())
    assert {r["model"] for r in rec} == {"ws (k=1)", "rws (k=5)"}
    assert all(set(records.FIELDS) <= set(r) and r["value"] > 0 for r in rec)


def test_gan_benchmark_records_mean_and_spread_over_seeds(tmp_path):
    out = run(
        "benchmarks.gan",
        "toy",
        "--steps",
        "5",
        "--seeds",
        "2",
        "--datasets",
        "grid",
        "--variants",
        "nonsaturating",
        "pacgan4",
        "--g-hidden",
        "16",
        "--d-hidden",
        "16",
        "--results",
        str(tmp_path),
    )
    assert "seed 1" in out
    recs = json.loads((tmp_path / "gan.json").read_text())
    assert len(recs) == 4 and all(set(records.FIELDS) <= set(r) for r in recs)
    by = {(r["model"], r["metric"]): r for r in recs}
    modes = by[("pacgan4 GAN, grid", "modes covered (of 25)")]
    assert modes["seeds"] == 2 and modes["spread"] >= 0 and 0 <= modes["value"] <= 25
    assert modes["paper_value"] == 24.8 and modes["network"].startswith("G 4x16")
    assert "± " in build.result_value(modes)


def test_gan_benchmark_pacgans_control_sees_as_many_samples_a_step(tmp_path):
    """The 4x-batch variant is the plain GAN with PacGAN4's samples per step, a row of its own,
    and every toy record keeps its per-seed values (claims about seeds need them)."""
    run(
        "benchmarks.gan",
        "toy",
        "--steps",
        "3",
        "--seeds",
        "2",
        "--datasets",
        "grid",
        "--net",
        "mlp",
        "--hidden",
        "8",
        "--batch-size",
        "16",
        "--variants",
        "nonsaturating",
        "nonsaturating-4x-batch",
        "--results",
        str(tmp_path),
    )
    recs = {(r["model"], r["metric"]): r for r in json.loads((tmp_path / "gan.json").read_text())}
    plain = recs[("nonsaturating GAN, grid, 3x8 MLPs", "modes covered (of 25)")]
    wide = recs[
        (
            "nonsaturating GAN at 4x the batch (PacGAN4's samples a step), grid, 3x8 MLPs",
            "modes covered (of 25)",
        )
    ]
    assert plain["batch_size"] == 16 and wide["batch_size"] == 64
    assert len(plain["per_seed"]) == len(wide["per_seed"]) == 2


def test_merge_seeds_joins_two_runs_of_disjoint_seeds():
    common = dict(model="m", metric="x", steps=5, network="n", schedule="s", device="cpu")
    old = records.make_record(
        **common,
        value=2.0,
        spread=1.41,
        seeds=2,
        per_seed=[1.0, 3.0],
        with_mala=1.0,
        train_seconds=10.0,
        paper_value=None,
        paper="-",
        epochs=1,
    )
    new = {**old, "per_seed": [5.0, 7.0], "value": 6.0, "with_mala": 3.0, "train_seconds": 20.0}
    merged = records.merge_seeds(old, new)
    assert merged["per_seed"] == [1.0, 3.0, 5.0, 7.0] and merged["seeds"] == 4
    assert merged["value"] == 4.0 and merged["spread"] == round(statistics.stdev([1, 3, 5, 7]), 2)
    assert merged["with_mala"] == 2.0 and merged["train_seconds"] == 15.0
    with pytest.raises(ValueError, match="steps differs"):
        records.merge_seeds(old, {**new, "steps": 6})


def test_unified_benchmark_pairs_each_transfer_with_its_base_model(tmp_path):
    run("benchmarks.unified", "aavae", "--steps", "3", "--seeds", "2", "--results", str(tmp_path))
    recs = {r["model"]: r for r in json.loads((tmp_path / "unified.json").read_text())}
    assert set(recs) == {"VAE (MNIST, 0.1 of the data)", "AA-VAE (MNIST, 0.1 of the data)"}
    for r in recs.values():
        assert set(records.FIELDS) <= set(r) and r["seeds"] == 2 and r["value"] < 0
    assert recs["AA-VAE (MNIST, 0.1 of the data)"]["paper_value"] == -103.05
    assert recs["VAE (MNIST, 0.1 of the data)"]["epochs"] == round(3 * 100 / 6000, 2)
    # all the digits: the label says so, and the paper's all-data figures come with it
    run(
        "benchmarks.unified",
        "aavae",
        "--steps",
        "2",
        "--seeds",
        "1",
        "--fraction",
        "1",
        "--results",
        str(tmp_path),
    )
    recs = {r["model"]: r for r in json.loads((tmp_path / "unified.json").read_text())}
    assert recs["VAE (MNIST, all of the data)"]["paper_value"] == -92.53
    assert recs["AA-VAE (MNIST, all of the data)"]["paper_value"] == -92.42
    assert recs["AA-VAE (MNIST, 0.1 of the data)"]["seeds"] == 2  # the earlier pair is kept


def test_gan_mnist_benchmark_scores_real_gan_and_vae(tmp_path):
    out = run(
        "benchmarks.gan", "mnist", "--steps", "3", "--n-score", "200", "--results", str(tmp_path)
    )
    assert "wrote" in out and (tmp_path / "gan_mnist_samples.png").exists()
    recs = json.loads((tmp_path / "gan.json").read_text())
    fd = {r["model"]: r["value"] for r in recs if r["metric"].startswith("Fréchet")}
    assert fd["real test digits, MNIST"] < fd["DCGAN (z linear to the 7x7 maps), MNIST"]


def test_gan_dcgan_benchmark_resumes_writes_float16_weights_and_records_their_scores(tmp_path):
    common = [
        "--steps",
        "6",
        "--n-score",
        "200",
        "--results",
        str(tmp_path),
        "--checkpoint",
        str(tmp_path / "c.pt"),
        "--weights",
        str(tmp_path / "g.pt"),
    ]
    out = run("benchmarks.gan", "dcgan", *common, "--minutes", "1e-6")  # stops after a step
    assert "run again to resume" in out and not (tmp_path / "g.pt").exists()
    out = run("benchmarks.gan", "dcgan", *common, "--lr-decay-steps", "3")  # resumes
    assert "DCGAN_SHA256" in out and (tmp_path / "gan_dcgan_samples.png").exists()
    state = torch.load(tmp_path / "g.pt", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    recs = json.loads((tmp_path / "gan.json").read_text())
    assert {r["metric"] for r in recs} == {"Fréchet distance (n=200)", "Inception score (n=200)"}
    r = recs[0]
    assert r["steps"] == 6 and r["weights"].endswith(dgm.pretrained.sha256(tmp_path / "g.pt")[:12])
    assert [i for i, _ in r["trace"]][-1] == 6 and "over the last 3 steps" in r["schedule"]


def test_vae_speed_times_both_pipelines_and_records_the_ratio(tmp_path):
    out = run(
        "benchmarks.vae",
        "speed",
        "--speed-images",
        "600",
        "--speed-epochs",
        "1",
        "--results",
        str(tmp_path),
    )
    assert "pytorch/examples" in out
    rec = {(r["model"], r["metric"]): r for r in json.loads((tmp_path / "vae.json").read_text())}
    ours = rec[("vae (k=1), eager step", "seconds per epoch (train)")]
    theirs = rec[("pytorch/examples VAE script", "seconds per epoch (train)")]
    ratio = rec[("vae (k=1), eager step", "epoch speed-up over pytorch/examples")]
    assert all(set(records.FIELDS) <= set(r) for r in rec.values())
    assert ours["value"] > 0 and theirs["value"] > 0
    assert ratio["value"] == round(theirs["value"] / ours["value"], 1)


def test_vae_estimators_records_per_seed_error_ratios_that_match_a_direct_computation(tmp_path):
    from benchmarks import vae as bench

    run(
        "benchmarks.vae",
        "estimators",
        "--seeds",
        "2",
        "--repeats",
        "30",
        "--results",
        str(tmp_path),
    )
    rows = json.loads((tmp_path / "vae.json").read_text())
    assert len(rows) == 2 * len(bench.ESTIMATOR_S)
    assert all(set(records.FIELDS) <= set(r) and len(r["per_seed"]) == 2 for r in rows)
    # the record is the ratio of two mean squared errors, seed by seed, recomputed here
    errors = bench.estimator_errors(1, 30)
    (row,) = [
        r for r in rows if r["model"] == "score function with baseline, linear-Gaussian 8x3, S = 16"
    ]
    assert row["metric"] == "squared error over reparameterization's"
    assert row["per_seed"][1] == round(errors["score-baseline", 16] / errors["reparam", 16], 4)
    # the estimators are unbiased, so each error is a variance: positive, falling with S
    assert all(v > 0 for v in errors.values())
    assert errors["reparam", 64] < errors["reparam", 4] and errors["score", 64] < errors["score", 4]


def test_gan_benchmark_trains_plain_mlps_with_the_options_it_records(tmp_path):
    run(
        "benchmarks.gan",
        "toy",
        *("--steps", "5", "--seeds", "1", "--datasets", "grid", "--variants", "pacgan4"),
        *("--net", "mlp", "--hidden", "8", "--batch-size", "16", "--betas", "0.5", "0.9"),
        *("--results", str(tmp_path)),
    )
    recs = json.loads((tmp_path / "gan.json").read_text())
    assert {r["model"] for r in recs} == {"pacgan4 GAN, grid, 3x8 MLPs"}
    r = recs[0]
    assert r["network"] == "G and D 3x8 ReLU MLPs" and r["batch_size"] == 16
    assert r["betas"] == [0.5, 0.9] and r["paper_value"] is not None


def test_toy_mlps_read_packs():
    import torch

    from dgm import gan

    G, D = gan.toy_mlps(pack=4, hidden=8)
    model = gan.GAN(G, D, 2, pack=4)
    assert model.sample(12).shape == (12, 2) and model.logits(torch.zeros(12, 2)).shape == (3,)


def test_energy_benchmark_runs_every_variant_and_records_both_generators(tmp_path):
    run(
        "benchmarks.energy",
        "toy",
        "--steps",
        "3",
        "--seeds",
        "2",
        "--datasets",
        "grid",
        "--mala-steps",
        "5",
        "--results",
        str(tmp_path),
    )
    recs = json.loads((tmp_path / "energy.json").read_text())
    assert {r["model"] for r in recs} == {
        "energy GAN, no MI, grid",
        "energy GAN, InfoGAN MI, grid",
        "energy GAN, JSD MI, grid",
    }
    for r in recs:
        assert set(records.FIELDS) <= set(r) and r["seeds"] == 2 and len(r["per_seed"]) == 2
        assert "raw_generator" in r and "with_mala" in r and r["steps"] == 3
        assert r["mala"].startswith("5 exact MALA steps")


def test_mcmc_benchmark_records_every_sampler_and_the_tempering_comparison(tmp_path):
    sizes = ("--seeds", "2", "--chains", "200", "--n-steps", "20")
    run("benchmarks.mcmc", "samplers", "bad-start", "tempering", *sizes, "--results", str(tmp_path))
    recs = json.loads((tmp_path / "mcmc.json").read_text())
    models = {r["model"] for r in recs}
    assert "MALA, step 0.4, 2-D mixture" in models
    # the bad-start arm: every chain from (-3, 0), recorded beside the exact-start arm
    assert "MALA, step 0.4, 2-D mixture, from (-3.0, 0.0)" in models
    assert "replica exchange (T = 1, 2, 4, 8, 16), two modes 8 apart" in models
    # the control: plain MALA given replica exchange's gradient budget (5 temperatures)
    budget = "MALA at replica exchange's gradient budget, two modes 8 apart"
    (ctrl,) = [r for r in recs if r["model"] == budget and r["metric"].startswith("share")]
    (short,) = [
        r
        for r in recs
        if r["model"] == "MALA, two modes 8 apart" and r["metric"].startswith("share")
    ]
    assert ctrl["steps"] == 5 * short["steps"] == 5 * 20
    assert "energy difference only, step 0.01, unit Gaussian" in models
    for r in recs:
        assert set(records.FIELDS) <= set(r) and r["seeds"] == 2 and len(r["per_seed"]) == 2


def test_diffusion_benchmark_runs_every_arm_from_the_same_starts(tmp_path):
    sizes = ("--seeds", "2", "--chains", "100", "--steps", "20", "--per-level", "3")
    run("benchmarks.diffusion", "modes", *sizes, "--results", str(tmp_path))
    recs = {r["model"]: r for r in json.loads((tmp_path / "diffusion.json").read_text())}
    annealed = recs["annealed Langevin, learned score, 20 levels, two modes 8 apart"]
    mala = recs["MALA, exact energy, eps 0.5, two modes 8 apart"]
    assert annealed["steps"] == mala["steps"] == 20 * 3 and annealed["exact"] == 0.7
    assert len(recs) == 10 and all(len(r["per_seed"]) == 2 for r in recs.values())
    # one factor per arm: the settings' arms take the annealed arm's steps
    for arm in ("20 levels, eps 0.02", "10 levels"):
        assert recs[f"annealed Langevin, exact score, {arm}, two modes 8 apart"]["steps"] == 60
    net = recs["score network (3x128 SiLU MLP, 20 steps), two modes 8 apart"]
    assert len(net["per_level"]) == len(net["sigmas"]) == 20
    ddpm = recs[bench_diffusion.DDPM_ARM]
    assert ddpm["steps"] == 1000 and ddpm["chains"] == "100 from N(0, I)"


def test_diffusion_compare_scores_every_model_against_one_reference_per_draw(tmp_path):
    sizes = ("--n-score", "20", "--draws", "2", "--steps", "5")
    run("benchmarks.diffusion", "compare", *sizes, "--results", str(tmp_path))
    recs = json.loads((tmp_path / "diffusion.json").read_text())
    models = {r["model"] for r in recs}
    assert {f"DDPM, DDIM in {k} steps, MNIST, 2 draws" for k in (100, 50, 20, 10)} <= models
    assert "DCGAN, shipped weights, MNIST, 2 draws" in models
    assert "VAE (pixel means), 5 steps, MNIST, 2 draws" in models
    assert len(recs) == 2 * 7 and all(len(r["per_seed"]) == 2 for r in recs)
    assert {r["reference"] for r in recs} == {"the last 20 training digits"}
    assert all(r["seconds_per_100"] > 0 for r in recs if r["model"].startswith("DDPM"))


def test_diffusion_benchmark_ships_float16_weights_and_scores_each_sampler(tmp_path):
    weights = tmp_path / "ddpm.pt"
    sizes = ("--channels", "8", "--steps", "2", "--batch-size", "8", "--n-score", "10", "--T", "20")
    paths = ("--checkpoint", str(tmp_path / "ck.pt"), "--weights", str(weights))
    run("benchmarks.diffusion", "mnist", *sizes, *paths, "--results", str(tmp_path))
    recs = json.loads((tmp_path / "diffusion.json").read_text())
    models = {r["model"] for r in recs}
    assert "DDPM (8-channel U-Net), ancestral sampling in 20 steps, MNIST" in models
    assert "DDPM (8-channel U-Net), DDIM in 10 steps, MNIST" in models
    # DDIM's 100, 50 and 20 steps are capped at T = 20: one record for them
    assert "real test digits" in models and len(recs) == 2 * 4
    assert all(r["seconds_per_100"] > 0 for r in recs if r["model"].startswith("DDPM"))
    state = torch.load(weights, weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    assert (tmp_path / "diffusion_mnist_samples.png").exists()


def test_mcmc_benchmark_measures_the_two_ratio_slips_beside_exact_mala(tmp_path):
    sizes = ("--seeds", "2", "--chains", "100", "--n-steps", "5")
    run("benchmarks.mcmc", "slips", *sizes, "--results", str(tmp_path))
    recs = json.loads((tmp_path / "mcmc.json").read_text())
    models = {r["model"] for r in recs}
    for kind in (
        "exact MALA",
        "the seed's ratio (target at the previous proposal)",
        "MEG's corrected sampler (unsquared norm)",
    ):
        assert f"{kind}, step 1.5, unit Gaussian" in models
    assert len(recs) == 15 and all(len(r["per_seed"]) == 2 for r in recs)


def test_the_seeds_ratio_slip_changes_nothing_while_every_proposal_is_accepted():
    """With the target evaluated at the previous proposal, the chain differs from exact MALA
    only after a rejection: from the same draws, the two agree until the first one."""
    from benchmarks import mcmc as bench

    x0 = torch.randn(500, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    runs = [
        bench.slip_chain(kind, x0, 1, 0.01, torch.Generator().manual_seed(1))
        for kind in bench.SLIPS[:2]
    ]
    assert torch.equal(runs[0], runs[1])  # one step from the start: no earlier proposal
    big = [
        bench.slip_chain(kind, x0, 200, 1.5, torch.Generator().manual_seed(1))
        for kind in bench.SLIPS[:2]
    ]
    assert not torch.equal(big[0], big[1])


def test_stacked_mnist_benchmark_trains_resumes_and_scores_modes(tmp_path):
    tiny = ("--energy-steps", "2", "--latent-dim", "8", "--channels", "4", "--hidden", "16")
    mala = ("--mala-samples", "40", "--mala-steps", "2")
    common = (*tiny, *mala, "--n-eval", "300", "--results", str(tmp_path))
    ckpt = tmp_path / "stacked.pt"
    run("benchmarks.energy", "stacked", "--steps", "3", *common, "--checkpoint", str(ckpt))
    run("benchmarks.energy", "stacked", "--steps", "5", *common, "--checkpoint", str(ckpt))
    written = json.loads((tmp_path / "energy.json").read_text())
    recs = {r["metric"]: r for r in written if "sampler" not in r}
    chains = {(r["sampler"], r["metric"]) for r in written if "sampler" in r}
    assert len(chains) == 12  # 3 samplers x (modes, KL, Frechet distance, classifier score)
    shortcut = [r for r in written if r.get("sampler") == "energy-difference shortcut"]
    assert shortcut[0]["n_samples"] == 40 and 0 <= shortcut[0]["acceptance"] <= 1
    modes, kl = recs["modes covered (of 1000)"], recs["KL(modes || uniform) (nats)"]
    assert modes["steps"] == 5 and modes["paper_value"] == 1000 and 1 <= modes["value"] <= 300
    assert "raw_generator" in modes and kl["paper_value"] == 0.0313
    assert 0 <= kl["value"] <= math.log(1000) + 1e-4  # rounded to 4 places


def test_pixelcnn_benchmark_trains_evaluates_and_times_both_samplers(tmp_path):
    common = ["--channels", "4", "--blocks", "1", "--results", str(tmp_path)]
    ckpt = ["--checkpoint", str(tmp_path / "p.pt")]
    run("benchmarks.pixelcnn", "train", "--max-steps", "5", "--n-eval", "20", *common, *ckpt)
    run("benchmarks.pixelcnn", "sample", "--n-samples", "2", *common, *ckpt)
    recs = {r["metric"]: r for r in json.loads((tmp_path / "pixelcnn.json").read_text())}
    nll = recs["test NLL (nats, exact, first 20 test digits)"]
    assert nll["paper_value"] is None and nll["bits_per_dim"] > 0 and nll["parameters"] > 0
    speed = recs["speed-up over the naive sampler"]
    assert speed["trained"] and speed["pixels_differing"] <= 2 and speed["pixels"] == 2 * 784
    run("benchmarks.pixelcnn", "sample", "--model", "gated", "--n-samples", "1", *common)


def test_em_benchmark_records_an_exact_nll_per_mixture(tmp_path):
    run(
        "benchmarks.em",
        "bernoulli",
        "--components",
        "2",
        "--iterations",
        "1",
        "--results",
        str(tmp_path),
        fresh=True,
    )
    (rec,) = json.loads((tmp_path / "em.json").read_text())
    assert rec["metric"] == "test NLL (nats, exact)" and 100 < rec["value"] < 400
    assert rec["bits_per_dim"] == round(rec["value"] / (784 * math.log(2)), 4)
    assert build.likelihood_rows(tmp_path)[0]["lecture"] == "01"


def test_grade_benchmark_grades_a_class_and_records_time_and_processes(tmp_path):
    run("benchmarks.grade", "--students", "4", "--no-execute", "--results", str(tmp_path))
    rec = {r["metric"]: r for r in json.loads((tmp_path / "grade.json").read_text())}
    assert set(rec) == {
        "seconds in all",
        "seconds per submission",
        "sandboxed processes alive at once (most)",
    }
    assert rec["seconds in all"]["model"].endswith("(checks only, bubblewrap)")
    assert all(set(records.FIELDS) <= set(r) for r in rec.values())
    assert rec["seconds in all"]["value"] > 0
    # jobs=2, two processes per submission (answers and judge); a pair on its way out may
    # still be seen beside the next one, but nothing piles up with the class (4 students)
    assert 1 <= rec["sandboxed processes alive at once (most)"]["value"] <= 2 * 2 + 2


def test_grid_scores_hold_a_smear_to_the_strict_count_and_the_data_to_its_floor():
    """The iwgan-grid scores: the data itself covers every mode by both rules with 98.9% good
    samples and a KL of 0 to uniform; a thin smear touches modes by one sample but not by 20;
    a generator with no good sample has no histogram (KL nan, not a perfect 0)."""
    from benchmarks.unified import grid_scores

    grid = dgm.data.grid_centres()
    g = torch.Generator().manual_seed(0)
    data = grid_scores(dgm.data.gaussian_grid(2500, generator=g), grid)
    assert data["modes covered (of 25)"] == 25
    assert data["modes with 20 or more of 2,500 samples (of 25)"] == 25
    assert abs(data["high-quality samples (%)"] - 100 * (1 - math.exp(-4.5))) < 0.6
    assert abs(data["KL(mode histogram || uniform) (nats)"]) < 0.02
    # all mass on 5 modes, plus one stray sample on each of the other 20
    on = grid[:5][torch.arange(2480) % 5] + 0.01 * torch.randn(2480, 2, generator=g)
    smear = torch.cat([on, grid[5:]])
    s = grid_scores(smear, grid)
    assert (
        s["modes covered (of 25)"] == 25
        and s["modes with 20 or more of 2,500 samples (of 25)"] == 5
    )
    # 5 modes with 496 of 2,500 samples each, 20 with 1: KL to uniform over 25 by hand
    kl = 5 * (496 / 2500) * math.log(25 * 496 / 2500) + 20 * (1 / 2500) * math.log(25 / 2500)
    assert s["KL(mode histogram || uniform) (nats)"] == pytest.approx(kl, rel=1e-5)
    far = grid_scores(torch.full((100, 2), 10.0), grid)
    assert far["modes covered (of 25)"] == 0 and math.isnan(
        far["KL(mode histogram || uniform) (nats)"]
    )


def test_a_record_made_from_uncommitted_code_says_so(tmp_path, monkeypatch):
    """``commit()`` appends ``+dirty`` when the library or the benchmarks' code differ from
    the commit, but not for results files (a sweep writes them as it goes)."""
    import subprocess

    from dgm.course import records as course_records

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "lib").mkdir()
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "lib" / "m.py").write_text("x = 1\n")
    (tmp_path / "benchmarks" / "results" / "r.json").write_text("[]\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    monkeypatch.setattr(course_records, "ROOT", tmp_path)

    def stamp():
        course_records.commit.cache_clear()
        return course_records.commit()

    clean = stamp()
    assert clean != "unknown" and not clean.endswith("+dirty")
    (tmp_path / "benchmarks" / "results" / "r.json").write_text("[1]\n")
    assert stamp() == clean
    (tmp_path / "lib" / "m.py").write_text("x = 2\n")
    assert stamp() == f"{clean}+dirty"
    course_records.commit.cache_clear()
