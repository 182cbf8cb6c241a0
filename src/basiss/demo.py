"""The main job: the whole pipeline, end to end, on the embedded sample.

sample -> masks (with figures) -> train -> predict the broad-area scene
(streamed, cosine blend) and the held-out test chips -> road network of the
broad scene -> evaluate (strict and relaxed F1; APLS and TOPO of the network)
-> ``report.md`` / ``report.json``. Defaults are sized so the demo
finishes in about five minutes on a 2-core CPU; :class:`DemoConfig` scales it
down to seconds for tests.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from basiss.io.raster import atomic_output

if TYPE_CHECKING:  # the stages load torch and geopandas: only when a step runs
    from basiss.evaluation import EvaluationReport
    from basiss.evaluation.networks import NetworkReport
    from basiss.graph.run import GraphOutputs
    from basiss.inference.predict import PredictOutputs
    from basiss.synthetic import SampleLayout
    from basiss.training import TrainResult

Log = Callable[[str], None]


@dataclass
class DemoConfig:
    """Sizes and budgets of one demo run.

    Attributes:
        out: output folder (created; a rerun replaces what it wrote before).
        seed: seeds the sample, the split and the training.
        n_train, n_test, chip_size, broad_size: the sample (:func:`~basiss.synthetic.write_sample`).
        arch, arch_kwargs: the model; a light U-Net trains in minutes on a CPU.
        slice, stride: training and prediction chip size and step (pixels).
        batch_size, lr, norm: training settings (one source, so mild augmentation
            and a fixed 1/255 scale; see :mod:`basiss.data.normalize`).
        train_minutes: training budget (wall clock).
        max_epochs: epoch cap (early stopping may end sooner).
        buffer_meters: road half-width of truth masks (SpaceNet: 2 m).
        relax_px: tolerance of the relaxed metric (pixels; 10 px = 3 m at 0.3 m).
        workers: processes for the masks stage (None: all cores).
        threads: torch threads (None: all cores).
        device: ``auto``, ``cpu`` or ``cuda``.
    """

    out: Path = Path("demo_out")
    seed: int = 0
    n_train: int = 8
    n_test: int = 2
    chip_size: int = 1300
    broad_size: int = 6000
    arch: str = "unet-small"
    arch_kwargs: dict[str, Any] = field(default_factory=lambda: {"base": 8})
    slice: int = 256
    stride: int = 192
    batch_size: int = 8
    lr: float = 3e-3
    norm: str = "fixed"
    train_minutes: float = 3.0
    max_epochs: int = 40
    buffer_meters: float = 2.0
    relax_px: int = 10
    workers: int | None = None
    threads: int | None = None
    device: str = "auto"


@dataclass
class DemoResult:
    """Headline figures and where everything went."""

    report_json: Path
    report_md: Path
    summary: dict[str, Any]


#: The steps of a run, in order, as the log numbers them.
STEPS = ("sample", "masks", "train", "predict", "graph", "evaluate", "view", "report")


@dataclass
class _Run:
    """What the steps of one run share: the settings, the log and the time of each step."""

    config: DemoConfig
    log: Log
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def out(self) -> Path:
        """The output folder."""
        return Path(self.config.out)

    @property
    def figures(self) -> Path:
        """Where the figures go."""
        return self.out / "figures"

    @contextmanager
    def step(self, name: str, what: str, quiet: bool = False) -> Iterator[None]:
        """Log ``[n/N] name: what`` (unless ``quiet``) and add the step's time to
        :attr:`seconds` (a step may run in several parts)."""
        if not quiet:
            self.log(f"[{STEPS.index(name) + 1}/{len(STEPS)}] {name}: {what}")
        start = time.monotonic()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - start


def run_demo(config: DemoConfig, log: Log = print) -> DemoResult:
    """Run the whole pipeline on a freshly written sample; return the report.

    Args:
        config: sizes and budgets.
        log: receives one line per step (the CLI prints them).
    """
    run = _Run(config, log)
    run.out.mkdir(parents=True, exist_ok=True)
    t_all = time.monotonic()
    layout, preview = _sample(run)
    csvs, broad_truth = _masks(run, layout)
    result = _train(run, csvs["train"])
    broad, has_test = _predict(run, layout, result.best_path, "test" in csvs)
    graph = _graph(run, broad.prob_path)
    broad_report, test_report = _evaluate(run, layout, broad.prob_path, broad_truth, has_test)
    network = _evaluate_network(run, layout, graph)
    view_cmd = _view(run, layout, broad, graph)
    log(f"[{len(STEPS)}/{len(STEPS)}] report")
    run.seconds["total"] = time.monotonic() - t_all
    summary = _summary(run, result, broad, broad_report, test_report)
    summary["network"] = _network_summary(graph, network)
    summary["view_command"] = view_cmd
    outputs = _outputs(run.out, preview, broad_truth, broad)
    outputs.update(_graph_outputs(run.out, graph))
    summary["outputs"] = outputs
    report_json, report_md = _write_report(run.out, summary, outputs)
    return DemoResult(report_json, report_md, summary)


def _sample(run: _Run) -> tuple[SampleLayout, Path]:
    """Write the synthetic sample and its preview figure."""
    # Each step imports its stage here, so `basiss --help` stays fast.
    from basiss.synthetic import write_sample
    from basiss.viz.sample import write_preview

    c = run.config
    with run.step("sample", f"synthetic SpaceNet-like suburb -> {run.out / 'sample'}"):
        layout = write_sample(
            run.out / "sample",
            seed=c.seed,
            n_train=c.n_train,
            n_test=c.n_test,
            chip_size=c.chip_size,
            broad_size=c.broad_size,
        )
        preview = write_preview(layout, run.figures / "sample_preview.png")
    return layout, preview


def _masks(run: _Run, layout: SampleLayout) -> tuple[dict[str, Path], Path]:
    """8-bit images, masks and file lists of the train (and test) chips; the broad truth.

    Returns:
        The file list of each split (``train``, and ``test`` when there are test chips),
        and the truth mask of the broad scene.
    """
    from basiss.labels import prepare_spacenet
    from basiss.labels.centerlines import write_road_mask

    c = run.config
    csvs: dict[str, Path] = {}
    with run.step("masks", f"{c.buffer_meters:g} m buffered centerlines + 8-bit images"):
        for split, folder in (("train", layout.train_dir), ("test", layout.test_dir)):
            if split == "test" and c.n_test == 0:
                continue
            csvs[split] = run.out / f"{split}_files.csv"
            rep = prepare_spacenet(
                folder,
                csvs[split],
                n_bands=3,
                buffer_meters=c.buffer_meters,
                make_plots=True,
                overwrite=True,
                workers=c.workers,
            )
            for msg in rep.messages:
                run.log(f"    {msg}")
            run.log(f"    {split}: {rep.summary()}")
        broad_truth = write_road_mask(
            layout.broad_labels,
            layout.broad_image,
            run.out / "truth" / f"{layout.broad_image.stem}_mask.tif",
            buffer_meters=c.buffer_meters,
        )
    return csvs, broad_truth


def _train(run: _Run, train_csv: Path) -> TrainResult:
    """Train the model on the training file list into ``run/`` (a rerun starts afresh)."""
    from basiss.data.augment import Augment
    from basiss.training import TrainConfig, train

    c = run.config
    run_dir = run.out / "run"

    def on_epoch(row: dict[str, float]) -> None:
        """One log line per epoch."""
        run.log(
            f"    epoch {int(row['epoch'])}: train loss {row['train_loss']:.3f}, "
            f"val loss {row['val_loss']:.3f}, val F1 {row['val_f1']:.3f}"
        )

    with run.step("train", f"{c.arch} for up to {c.train_minutes:g} min"):
        for stale in ("best.pt", "last.pt", "log.csv"):
            (run_dir / stale).unlink(missing_ok=True)
        config = TrainConfig(
            file_lists=[train_csv],
            out=run_dir,
            arch=c.arch,
            arch_kwargs=dict(c.arch_kwargs),
            n_bands=3,
            slice=(c.slice, c.slice),
            stride=(c.stride, c.stride),
            batch_size=c.batch_size,
            epochs=c.max_epochs,
            lr=c.lr,
            loss="bce+dice",
            norm=c.norm,
            augmentation=Augment(),
            # the demo's own short recipe (grid chips, best by validation loss), measured
            # at ~5 minutes end to end; not the cpu preset, which needs far longer
            random_crop=False,
            zoom=1.0,
            monitor="val_loss",
            early_stopping_patience=4,
            validation_split=0.15,
            max_minutes=c.train_minutes,
            device=c.device,
            threads=c.threads,
            seed=c.seed,
        )
        return train(config, on_epoch=on_epoch)


def _predict(
    run: _Run, layout: SampleLayout, checkpoint: Path, with_test: bool
) -> tuple[PredictOutputs, bool]:
    """Predict the broad scene (streamed, cosine blend) and the test chips.

    Returns:
        The broad scene's result, and whether test chips were predicted.
    """
    from basiss.inference import PredictOptions, predict_image, predict_many

    c = run.config
    pred_dir = run.out / "predictions"
    with run.step("predict", "streaming sliding window, cosine blend"):
        options = PredictOptions(
            stride=(c.stride, c.stride), blend="cosine", device=c.device, threads=c.threads
        )
        broad = predict_image(layout.broad_image, checkpoint, pred_dir, options)
        run.log(
            f"    broad scene {c.broad_size}x{c.broad_size}: {broad.chips} chips, "
            f"{broad.seconds:.1f} s, {broad.mpx_per_s:.2f} Mpx/s"
        )
        tested = False
        if with_test:
            rgb_dir = layout.test_dir / "RGB-PanSharpen"
            tested = bool(predict_many([rgb_dir], checkpoint, pred_dir / "test", options))
    return broad, tested


def _graph(run: _Run, broad_prob: Path) -> GraphOutputs:
    """The road network of the broad scene's probability (streamed by row bands)."""
    from basiss.graph import graph_image

    with run.step("graph", "road network from the probability, by row bands"):
        graph = graph_image(broad_prob, broad_prob.parent)
        run.log(
            f"    {graph.nodes} nodes, {graph.edges} edges, {graph.length_m / 1000:.2f} km of road"
        )
    return graph


#: Zoom levels of the static map below the scene's finest (coarser ones are quick to cut;
#: the page enlarges the finest exported tiles beyond).
VIEW_LEVELS = (4, 3)


def _view(run: _Run, layout: SampleLayout, broad: PredictOutputs, graph: GraphOutputs) -> str:
    """Export the broad scene's static map to ``view/``; the command that serves it live."""
    from basiss.view.export import export_view
    from basiss.view.page import load
    from basiss.view.scenes import find_scenes

    layers = [broad.prob_path, broad.mask_path, graph.paths["geojson"]]
    with run.step("view", "static map of the broad scene (view/index.html)"):
        page = load(find_scenes(layers, image=layout.broad_image, truth=[layout.broad_labels]))
        top = page.max_zoom()
        export_view(
            page, run.out / "view", min_zoom=top - VIEW_LEVELS[0], max_zoom=top - VIEW_LEVELS[1]
        )
    rel = [str(p) for p in (*layers,)]
    return f"basiss view {' '.join(rel)} --image {layout.broad_image} --truth {layout.broad_labels}"


def _evaluate_network(run: _Run, layout: SampleLayout, graph: GraphOutputs) -> NetworkReport:
    """APLS (SpaceNet 3 settings) and TOPO of the broad scene's network vs its centerlines."""
    from basiss.evaluation.networks import evaluate_networks

    with run.step("evaluate", "APLS and TOPO of the road network", quiet=True):
        return evaluate_networks(
            graph.paths["gpkg"],
            layout.broad_labels,
            out_json=run.out / "evaluation_network.json",
            params="spacenet3",
            image=layout.broad_image,
            plots_dir=run.figures,
        )


def _network_summary(graph: GraphOutputs, report: NetworkReport) -> dict[str, Any]:
    """The network's size and scores for the summary."""
    (r,) = report.images
    return {
        "nodes": graph.nodes,
        "edges": graph.edges,
        "length_km": round(graph.length_m / 1000, 3),
        "truth_length_km": round(r.truth_length_m / 1000, 3),
        "apls": r.apls.apls,
        "apls_gt_onto_prop": r.apls.gt_onto_prop,
        "apls_prop_onto_gt": r.apls.prop_onto_gt,
        "topo_f1": r.topo.f1 if r.topo is not None else None,
    }


def _graph_outputs(out: Path, graph: GraphOutputs) -> dict[str, str]:
    """The network files of the run and what they are."""
    gpkg = graph.paths["gpkg"]
    return {
        str(gpkg.relative_to(out)): "road network of the broad scene (edges + nodes layers)",
        str(gpkg.with_suffix(".geojson").relative_to(out)): "the same network, EPSG:4326",
        "evaluation_network.json": "APLS (SpaceNet 3 settings) and TOPO of the network",
        "view/index.html": "static map of the broad scene: imagery, probability, mask, "
        "network, truth (opens from disk)",
    }


def _evaluate(
    run: _Run, layout: SampleLayout, broad_prob: Path, broad_truth: Path, with_test: bool
) -> tuple[EvaluationReport, EvaluationReport | None]:
    """Score the broad scene (with its figure) and the test chips, strict and relaxed."""
    from basiss.evaluation import evaluate

    c = run.config
    with run.step("evaluate", f"strict and relaxed ({c.relax_px} px) F1, APLS, TOPO"):
        broad = evaluate(
            broad_prob,
            broad_truth,
            out_json=run.out / "evaluation_broad.json",
            relax_px=c.relax_px,
            plots_dir=run.figures,
            image=layout.broad_image,
        )
        test = None
        if with_test:
            test = evaluate(
                run.out / "predictions" / "test",
                layout.test_dir / "geojson" / "spacenetroads",
                out_json=run.out / "evaluation_test.json",
                relax_px=c.relax_px,
                buffer_meters=c.buffer_meters,
            )
    return broad, test


def _relaxed_f1(report: EvaluationReport | None) -> float | None:
    """The relaxed F1 of ``report`` (None without one)."""
    relaxed = report.relaxed if report is not None else None
    return relaxed.f1 if relaxed is not None else None


def _summary(
    run: _Run,
    result: TrainResult,
    broad: PredictOutputs,
    broad_report: EvaluationReport,
    test_report: EvaluationReport | None,
) -> dict[str, Any]:
    """The headline numbers, timings, machine and configuration of the run (JSON-ready)."""
    c = run.config
    micro = broad_report.micro
    best = broad_report.best_threshold
    return {
        "f1": micro.f1,
        "precision": micro.precision,
        "recall": micro.recall,
        "iou": micro.iou,
        "relaxed_f1": _relaxed_f1(broad_report),
        "relax_px": c.relax_px,
        "best_threshold": best.to_json() if best is not None else None,
        "test_chips_f1": test_report.micro.f1 if test_report else None,
        "test_chips_relaxed_f1": _relaxed_f1(test_report),
        "train": {
            "arch": c.arch,
            "arch_kwargs": c.arch_kwargs,
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "stopped": result.stopped,
            "val": result.val_metrics,
        },
        "predict": {
            "chips": broad.chips,
            "seconds": round(broad.seconds, 2),
            "mpx_per_s": round(broad.mpx_per_s, 3),
        },
        "seconds": {k: round(v, 1) for k, v in run.seconds.items()},
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or ""},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(c).items()},
    }


def _outputs(out: Path, preview: Path, broad_truth: Path, broad: PredictOutputs) -> dict[str, str]:
    """Every output of the run (relative to ``out``) and what it is."""
    return {
        "sample/": "the synthetic SpaceNet-3-like dataset (train, test, broad_area)",
        str(preview.relative_to(out)): "preview of a chip and the broad scene with centerlines",
        "train_files.csv": "file list of 8-bit training images and masks (seed format)",
        "sample/AOI_9_Sample_Train/masks_2m/": "training masks (2 m buffer), uint8 0/1 GeoTIFF",
        "sample/AOI_9_Sample_Train/masks_2m_plots/": "per-chip figures: lines, image, mask",
        str(broad_truth.relative_to(out)): "truth mask of the broad scene (2 m buffer)",
        "run/best.pt": "the trained model (weights + everything predict needs)",
        "run/log.csv": "per-epoch training log",
        str(broad.prob_path.relative_to(out)): "road probability of the broad scene (uint8 0..255)",
        str(broad.mask_path.relative_to(out)): "road mask of the broad scene (0/1 at 0.5)",
        "predictions/test/": "predictions for the held-out test chips",
        "evaluation_broad.json": "metrics of the broad scene (and .csv beside it)",
        "evaluation_test.json": "metrics of the test chips against their GeoJSON labels",
        "figures/": "evaluation figure: truth | prediction | TP/FP/FN overlay",
    }


def _write_report(out: Path, summary: dict[str, Any], outputs: dict[str, str]) -> tuple[Path, Path]:
    """``report.json`` and ``report.md`` in ``out``, each written atomically."""
    report_json = out / "report.json"
    with atomic_output(report_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    report_md = out / "report.md"
    with atomic_output(report_md) as tmp:
        tmp.write_text(_markdown(summary, outputs))
    return report_json, report_md


def _network_lines(net: dict[str, Any] | None) -> list[str]:
    """Report rows of the road network's scores."""
    if not net:
        return []
    return [
        f"| road network APLS (SpaceNet 3; gt->prop / prop->gt) | {_fmt(net['apls'])} "
        f"({_fmt(net['apls_gt_onto_prop'])} / {_fmt(net['apls_prop_onto_gt'])}) |",
        f"| road network TOPO F1 | {_fmt(net['topo_f1'])} |",
        f"| road length, network / truth (km) | {net['length_km']} / {net['truth_length_km']} |",
    ]


def _fmt(v: Any) -> str:
    """A report cell: floats to three decimals."""
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _markdown(s: dict[str, Any], outputs: dict[str, str]) -> str:
    """The human-readable report."""
    lines = [
        "# basiss demo report",
        "",
        "The whole pipeline on the embedded synthetic sample: masks from centerlines, a",
        f"`{s['train']['arch']}` trained for {s['seconds']['train']:.0f} s, streaming prediction",
        "of the broad-area scene with a cosine blend, and pixel metrics against 2 m-buffer truth.",
        "",
        "## Headline",
        "",
        "| metric (broad scene, threshold 0.5) | value |",
        "|---|---|",
        f"| F1 (strict) | {_fmt(s['f1'])} |",
        f"| precision | {_fmt(s['precision'])} |",
        f"| recall | {_fmt(s['recall'])} |",
        f"| IoU | {_fmt(s['iou'])} |",
        f"| relaxed F1 ({s['relax_px']} px) | {_fmt(s['relaxed_f1'])} |",
        f"| test chips F1 (strict / relaxed) | {_fmt(s['test_chips_f1'])} / "
        f"{_fmt(s['test_chips_relaxed_f1'])} |",
        *_network_lines(s.get("network")),
        "",
        "## Time per stage (seconds)",
        "",
        "| stage | seconds |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in s["seconds"].items()],
        "",
        "## Outputs",
        "",
        *[f"- `{path}`: {what}" for path, what in outputs.items()],
        "",
    ]
    return "\n".join(lines)
