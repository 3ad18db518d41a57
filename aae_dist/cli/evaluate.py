"""Evaluate a trained run: reconstruction, Parzen-window log-likelihood (the AAE paper's protocol, for 28x28
grayscale data), how well the encoded real images match the prior, the discriminator's view, and sample quality
in the feature space of a classifier of the dataset (Frechet distance, precision and recall); for the models
whose decoder reads a class (supervised, semi-supervised, dim-reduction) also label consistency and
train-on-synthetic, test-on-real (TSTR) accuracy; for the models with a class head (semi-supervised, clustering,
dim-reduction) the test error, per class and as a confusion matrix.

aae-evaluate is this program, and so is launch/evaluate.py:

    aae-evaluate --checkpoint runs/a --data-root ../shared/data --json runs/a/eval.json
    aae-evaluate --checkpoint runs/a/checkpoints/step_010000 ...   # the weights at step 10000
    aae-evaluate --checkpoint runs/a/checkpoints/best ...          # those --keep-best kept
"""

from .. import checkpoints
from ..config import OneLineParser
from ..files import write_json
from ..metrics import evaluate
from ..tracking import log_to_finished_run
from . import add_run_arguments, check_writable, load_model, pick_device, program, read_run, run

# What the JSON records of the run beside its figures.
RUN_FIELDS = ("model", "dataset", "steps", "seed", "batch_size", "num_labels", "clusters", "z_dim", "hidden",
              "optimizer", "lr_recon", "lr_reg", "lr_cls", "lr_schedule", "ema_decay", "validation_images", "output_dir")


def build_parser(prog=None):
    parser = OneLineParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_run_arguments(parser, data_root=True)
    parser.add_argument("--json", help="write every number here")
    parser.add_argument("--num-samples", type=int, default=10000, help="generated samples (default: 10000)")
    parser.add_argument("--tstr-samples", type=int, default=60000, help="the models whose decoder reads a "
                        "class (supervised, semi-supervised, dim-reduction): generated samples a classifier is "
                        "trained on for TSTR (default: 60000)")
    parser.add_argument("--validation-images", type=int, default=None, help="the models with a class head: also "
                        "report the error on the last N training images (validation_error), the clusters named on the "
                        "others (default: the run's --validation-images, the images it held out; a clustering run "
                        "never reads labels in training, so the images it trained on validate it too). test_error "
                        "is unchanged by it")
    parser.add_argument("--trained-weights", action="store_true", help="a checkpoint of a run with --ema-decay: "
                        "evaluate its trained weights instead of their moving average (the default)")
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("num_samples", "tstr_samples"):
        if getattr(args, name) <= 1:
            parser.error(f"--{name.replace('_', '-')} must be an integer > 1, got {getattr(args, name)}")
    if args.validation_images is not None and args.validation_images < 0:
        parser.error(f"--validation-images must be a non-negative integer, got {args.validation_images}")
    return args


def print_summary(results, args, aae):
    """The evaluation in a few lines, as fits the model and the data."""
    print(f"{program()}: {args.checkpoint} on {results['dataset']} ({args.num_samples} samples, real images: its "
          f"{results['reference_split']} set)")
    if "parzen_ll" in results:
        print(f"  Parzen log-likelihood   {results['parzen_ll']:.1f} +- {results['parzen_ll_stderr']:.1f} nats "
              f"(sigma {results['parzen_sigma']:.3f})")
    print(f"  reconstruction          {results['recon_bce_per_pixel']:.4f} BCE per pixel, "
          f"{results['recon_nats_per_image']:.1f} nats per image\n"
          f"  posterior vs prior      mean gap {results['mean_gap']:.3f}, covariance gap "
          f"{results['cov_gap_frobenius']:.3f}, MMD^2 {results['mmd2']:.4f}\n"
          f"  D(prior) / D(Q(real))   {results['d_prior']:.3f} / {results['d_encoded_test']:.3f}")
    if "frechet_distance" in results:
        print(f"  classifier              Frechet distance {results['frechet_distance']:.2f}, precision "
              f"{results['precision']:.3f}, recall {results['recall']:.3f}, label entropy "
              f"{results['label_entropy']:.3f} of {results['label_entropy_max']:.3f} "
              f"(classifier accuracy on the {results['reference_split']} images "
              f"{results['classifier_test_accuracy']:.4f})")
        chance = 1 / len(results["label_histogram"])
        # a quarter of the way from chance to perfect: a folder too small, or labels too noisy, to teach it
        if results["classifier_test_accuracy"] < chance + (1 - chance) / 4:
            print(f"  warning: the classifier is near chance ({chance:.2f}) on real images, so its metrics above "
                  "say little about the samples; it needs more labelled training images")
    else:
        print("  classifier              none: the data has no labels to train one on")
    if "test_error" in results:
        clusters = (f" (by majority labels {100 * results['majority_test_error']:.2f}%), cluster sizes "
                    f"{results['cluster_sizes']}" if "cluster_sizes" in results else "")
        validation = (f"; validation error {100 * results['validation_error']:.2f}% (the last "
                      f"{results['validation_images']} training images)" if "validation_error" in results else "")
        print(f"  classification          test error {100 * results['test_error']:.2f}%{clusters}{validation}")
    if aae.decodes_classes:
        print(f"  class-conditional       label consistency {results['label_consistency']:.4f}, TSTR accuracy "
              f"{results['tstr_accuracy']:.4f} ({args.tstr_samples} samples; the same classifier trained on real "
              f"data: {results['trtr_accuracy']:.4f})")


def evaluate_run(argv=None):
    args = parse_args(argv)
    if args.json:
        check_writable("--json", args.json)
    device = pick_device(args.device)
    aae = load_model(args.checkpoint, device, average=not args.trained_weights)
    config, data_root = read_run(args.checkpoint, args.data_root)
    held_out = config.get("validation_images", 0)  # 0 for the runs made before the flag
    results = evaluate(aae, config["dataset"], data_root, num_samples=args.num_samples, seed=args.seed,
                       tstr_samples=args.tstr_samples, image_size=config.get("image_size"), held_out=held_out,
                       validation_images=held_out if args.validation_images is None else args.validation_images)
    # a run directory's weights are those of its last step (--stop-at's, where its last command stopped early), a
    # checkpoint's those of its own (checkpoints/best: of the evaluation it was kept for, chosen_by)
    state = checkpoints.read_state(args.checkpoint) if checkpoints.is_checkpoint(args.checkpoint) else {}
    averaged = config.get("ema_decay") and not args.trained_weights
    results["run"] = {"trained_steps": state.get("step") or config.get("stop_at") or config["steps"],
                      **{key: config.get(key) for key in RUN_FIELDS},
                      "weights": "moving average" if averaged else "trained",
                      **({"chosen_by": state["chosen_by"]} if "chosen_by" in state else {})}
    results["train_config"] = config  # every setting the run trained with (its config.json), to trace a number to it
    print_summary(results, args, aae)
    best = checkpoints.best_path(args.checkpoint)
    if not state and checkpoints.is_checkpoint(best):
        chosen = checkpoints.read_state(best)
        print(f"  note: this run kept the weights of its lowest {chosen['chosen_by']['metric']} (step "
              f"{chosen['step']}) in {best}; these are its last step's. Evaluate those with --checkpoint {best}")
    if args.json:
        write_json(args.json, results)
    scalars = {f"eval/{k}": v for k, v in results.items() if isinstance(v, (int, float))}
    if not checkpoints.is_checkpoint(args.checkpoint):  # the W&B run's summary describes its final weights
        log_to_finished_run(args.checkpoint, summary=scalars)


def main(argv=None):
    run(evaluate_run, argv)


if __name__ == "__main__":
    main()
