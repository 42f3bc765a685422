"""Every claim the lectures make is registered, backed by the records, and shown as recorded.

- each registered claim holds on the committed records (``benchmarks/claims.py``), and a
  record that stops supporting one makes it fail;
- each claim is shown in its lecture, in the cell that states it, by its generated line;
- no number with a unit in a lecture's prose is missing from its outputs and its registry,
  and no vague amount of a unit ("a few minutes") is left; shown on lecture 08's old text;
- no markdown holds a control character or a LaTeX command that a Python escape ate.
"""

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from dgm.course import claims, prose

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
REGISTRY = claims.registry()
KEYS = [c.key for c in REGISTRY.claims]


def read(path):
    return nbformat.read(path, as_version=4)


def solution(lecture: str):
    (path,) = [p for p in SOLUTIONS if p.name.startswith(lecture)]
    return read(path)


@pytest.mark.parametrize("key", KEYS)
def test_each_registered_claim_holds_on_the_committed_records(key):
    c = REGISTRY.by_key(key)
    assert c.control and c.text and c.refs, "a claim names its control, text and records"
    verdict = claims.evaluate(c)
    assert verdict.holds, f"{key}: the records no longer support it: {verdict.line}"


@pytest.mark.parametrize("key", KEYS)
def test_each_claim_is_shown_in_the_cell_that_states_it(key):
    c = REGISTRY.by_key(key)
    cells = [x.source for x in solution(c.lecture).cells if x.cell_type == "markdown"]
    showing = [s for s in cells if key in claims.cited(s)]
    assert showing, f"{key}: no <!-- claim {key} --> block in lecture {c.lecture}"
    assert any(c.cell in s for s in showing), f"{key}: {c.cell!r} is not in the cell showing it"


@pytest.mark.parametrize("key", [c.key for c in REGISTRY.exact_claims])
def test_each_exact_claim_names_existing_tests_and_is_stated_in_its_lecture(key):
    (c,) = [c for c in REGISTRY.exact_claims if c.key == key]
    markdown = [x.source for x in solution(c.lecture).cells if x.cell_type == "markdown"]
    assert claims.exact_problems(c, markdown, ROOT) == []


def test_an_exact_claim_with_a_renamed_test_or_a_lost_sentence_fails():
    c = claims.ExactClaim(
        "01.x", "text", "the gap closes", ("tests/test_em.py::test_that_was_renamed",)
    )
    found = claims.exact_problems(c, ["the gap stays open"], ROOT)
    assert any("defines no test_that_was_renamed" in p for p in found)
    assert any("'the gap closes' is in no markdown cell" in p for p in found)
    with pytest.raises(ValueError, match="file::test"):
        claims.Registry().exact("01.y", text="t", cell="c", tests=("tests/test_em.py",))


def test_every_block_in_the_notebooks_names_a_registered_claim():
    for path in SOLUTIONS:
        for cell in read(path).cells:
            for key in claims.cited(cell.source):
                assert key in KEYS, f"{path.name} cites an unregistered claim {key!r}"


def perturbed(tmp_path, stem, who, what, **change) -> claims.Records:
    """A copy of the records with the fields of record ``who / what`` changed."""
    shutil.copytree(RESULTS, tmp_path / "results")
    path = tmp_path / "results" / f"{stem}.json"
    rows = json.loads(path.read_text())
    (row,) = [r for r in rows if r["model"] == who and r["metric"] == what]
    row.update(change)
    path.write_text(json.dumps(rows))
    return claims.Records(tmp_path / "results")


def test_a_record_that_stops_supporting_a_claim_fails_it(tmp_path):
    """The GAN keeping the small mode on one seed breaks 05's "dropped it on every seed"; the
    fast sampler differing in one pixel breaks 08's "same images"."""
    recs = perturbed(
        tmp_path,
        "unified",
        "GAN, 10:1 modes",
        "samples on the small mode (%)",
        value=0.4,
        spread=0.9,
        per_seed=[0, 0, 0, 0, 2.0],
    )
    assert not claims.evaluate(REGISTRY.by_key("05.small-mode"), recs).holds
    assert claims.evaluate(REGISTRY.by_key("05.small-mode")).holds
    model = "PixelCNN (32 channels, 5 residual blocks), fast sampler"
    recs = perturbed(
        tmp_path / "b", "pixelcnn", model, "speed-up over the naive sampler", pixels_differing=1
    )
    assert not claims.evaluate(REGISTRY.by_key("08.fast-sampler"), recs).holds


def test_a_missing_record_is_an_error_not_a_pass(tmp_path):
    recs = perturbed(
        tmp_path, "energy", "energy GAN, JSD MI, grid", "modes covered (of 25)", model="renamed"
    )
    with pytest.raises(KeyError, match="0 records"):
        claims.evaluate(REGISTRY.by_key("06.jsd-every-seed"), recs)


# --------------------------------------------------------------------------- statistics


def test_compare_uses_welch_from_ten_seeds_and_every_seed_below():
    from scipy import stats

    a, b = [float(v) for v in range(10, 20)], [float(v) for v in range(7, 17)]
    v = claims.compare(a, b, names=("A", "B"), what="x")
    p = stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue
    assert v.holds == (p < 0.05) and f"p = {claims.fmt(p, 2)}" in v.line
    # five seeds: only a clean separation counts, whatever the means
    assert claims.compare([5, 6, 7, 8, 9], [1, 2, 3, 4, 4.5], names=("A", "B"), what="x").holds
    assert not claims.compare([5, 6, 7, 8, 9], [1, 2, 3, 4, 5.5], names=("A", "B"), what="x").holds
    # lower is better flips the order
    assert claims.compare([1, 2], [3, 4], names=("A", "B"), what="x", lower_is_better=True).holds
    with pytest.raises(ValueError, match="per-seed"):
        claims.compare([1.0], [0.0, 0.1], names=("A", "B"), what="x")


def test_a_mean_and_spread_cannot_back_a_claim_about_seeds():
    record = {"model": "m", "metric": "x", "value": 3.0, "spread": 1.0, "seeds": 5}
    with pytest.raises(ValueError, match="rerun its benchmark"):
        claims.per_seed(record)
    assert claims.per_seed({**record, "spread": 0.0}) == [3.0] * 5
    assert claims.per_seed({**record, "per_seed": [1, 2]}) == [1, 2]


def test_a_refs_string_names_file_model_and_metric():
    assert claims.parse_ref("gan: a / b / c") == ("gan", "a / b", "c")
    with pytest.raises(ValueError, match="stem: model / metric"):
        claims.parse_ref("gan a b")


def test_blocks_are_rewritten_and_an_unknown_key_is_refused():
    text = "Claim.\n<!-- claim k -->\nold\n<!-- /claim -->\nmore"
    assert (
        claims.with_blocks(text, {"k": "new"})
        == "Claim.\n<!-- claim k -->\nnew\n<!-- /claim -->\nmore"
    )
    with pytest.raises(KeyError, match="not in the registry"):
        claims.with_blocks(text, {})
    item = "- a point:\n\n  <!-- claim k -->\n  <!-- /claim -->\n- next"
    assert claims.with_blocks(item, {"k": "new"}) == (
        "- a point:\n\n  <!-- claim k -->\n  new\n  <!-- /claim -->\n- next"
    )


# --------------------------------------------------------------------------- prose numbers


def backed_texts(lecture: str) -> list[str]:
    lines = [claims.evaluate(c).line for c in REGISTRY.of(lecture)]
    return lines + [p.figure for p in REGISTRY.papers if p.lecture == lecture]


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_every_number_in_the_prose_is_in_the_outputs_or_the_registry(path):
    nb = read(path)
    md = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]
    found = prose.unbacked(md, prose.notebook_outputs(nb), backed_texts(path.name[:2]))
    assert not found, "\n".join(f"cell {u.cell}: {u.text!r}: {u.why}" for u in found)


OLD_08 = {  # lecture 08's text as the review found it (commit 8f48e14)
    8: "train a PixelCNN of 32 channels and 5 residual blocks (19,649 parameters) and a gated "
    "PixelCNN of 16 channels and 6 layers, for a few minutes each.",
    17: "The samples look like pen strokes, but many are not digits: a model that is ~10 nats "
    "from the paper, with a receptive field of a few rows, has learned local texture.",
}


def test_the_prose_check_catches_lecture_08s_old_text():
    """The outputs said 95.54 and 94.61 nats (13.3-14.2 above the paper's 81.30) and 1365 s
    and 424 s of training: "~10 nats" and "a few minutes each" are caught, with the paper's
    figures registered (the claim lines did not exist then: one of them now says that the
    benchmark's longer gated run is 10.0 nats from the paper, which is not this run)."""
    nb = solution("08")
    outputs = (
        "PixelCNN: 19,649 parameters, 2500 steps (2.7 epochs) in 1365 s; test NLL 95.54 nats\n"
        "gated PixelCNN: 30,145 parameters, 1500 steps (1.6 epochs) in 424 s; test NLL 94.61 "
        "nats\n8 digits: naive loop 5.9 s, cached 0.56 s (10x); pixels that differ: 0 of 6272\n"
        + prose.notebook_outputs(nb)
    )
    papers = [p.figure for p in REGISTRY.papers if p.lecture == "08"]
    found = prose.unbacked(OLD_08.items(), outputs, papers)
    assert {u.text for u in found} == {"a few minutes", "10 nats"}
    assert all(u.cell in OLD_08 for u in found)
    # the same sentences with the measured figures pass
    fixed = [(8, "for 1365 s and 424 s"), (17, "a model 13.3-14.2 nats from the paper")]
    outputs += "\ngap to the paper: 14.24 and 13.31 nats"
    assert prose.unbacked(fixed, outputs, papers) == []


@pytest.mark.parametrize(
    "text, output, ok",
    [
        ("95.5 nats", "test NLL 95.54 nats", True),
        ("95.6 nats", "test NLL 95.54 nats", False),
        ("23 min", "in 1365 s", True),  # minutes from seconds
        ("10 nats", "speed-up (10x)", False),  # another unit is not a match
        ("87%", "high quality 0.873", True),  # a share printed as a fraction
        ("25/25 modes", "25 modes", True),
        ("88.0-94.0%", "88.0 93.1", False),
        ("64x faster", "speed-up 64.1", True),
    ],
)
def test_a_quantity_is_backed_only_by_the_same_value_and_unit(text, output, ok):
    assert (prose.unbacked([(0, text)], output) == []) == ok


def test_dimensions_and_names_are_not_quantities():
    assert prose.quantities("a 7x7 mask, 3 x 3 kernels, 28 x 28 pixels, lecture 04's GAN") == []
    assert [q.value for q in prose.quantities("91.6 ± 2.3% and 1,000 modes")] == [91.6, 2.3, 1000]


# --------------------------------------------------------------------------- rendering

# what a Python escape leaves of a LaTeX command: "\nabla" -> newline + "abla", "\theta" ->
# tab + "heta", "\frac" -> form feed + "rac", "\beta" -> backspace + "eta", "\alpha" -> bell
EATEN = re.compile(r"\n(abla|eq|eg|ot|otin|ewline|u\b|i\b)")


def math_spans(text: str) -> list[str]:
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.findall(r"\$\$.*?\$\$|\$[^$]+\$", text, flags=re.S)


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_no_markdown_holds_a_control_character_or_an_eaten_latex_command(path):
    for i, cell in enumerate(read(path).cells):
        if cell.cell_type != "markdown":
            continue
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", cell.source), f"cell {i}"
        for span in math_spans(cell.source):
            assert not EATEN.search(span), f"cell {i}: {span!r}"


def test_the_eaten_command_check_catches_lecture_02s_old_baseline_identity():
    old = "way to move: $\\mathbb{E}_q[\nabla_\\phi \\log q] = \nabla_\\phi \\int q = 0$, so"
    assert any(EATEN.search(s) for s in math_spans(old))
    assert not any(EATEN.search(s) for s in math_spans(old.replace("\nabla", "\\nabla")))


def test_no_lecture_mentions_what_a_reader_cannot_see():
    for path in SOLUTIONS:
        for i, cell in enumerate(read(path).cells):
            text = cell.source
            for internal in ("../shared", "CALIBRATION", "the issue's", "this issue"):
                assert internal not in text, f"{path.name} cell {i}: {internal!r}"


def test_a_progress_bars_pace_backs_no_figure():
    """A progress bar's rate and times (tqdm's "10.14it/s") are the run's pace: a text's
    "~10 nats" is not backed by them, and a printed result on the next line still is."""
    nb = nbformat.v4.new_notebook()
    bar = "fit: 100%|##########| 2500/2500 [04:11<00:00, 10.14it/s, nll=94.57]\r"
    nb.cells = [
        nbformat.v4.new_code_cell(
            outputs=[
                nbformat.v4.new_output("stream", name="stderr", text=bar),
                nbformat.v4.new_output("stream", name="stdout", text="test NLL 95.40 nats\n"),
            ]
        )
    ]
    outputs = prose.notebook_outputs(nb)
    found = prose.unbacked([(1, "about 10 nats from the paper, at 95.4 nats")], outputs)
    assert [u.text for u in found] == ["10 nats"]
