"""Share a trained run on the Hugging Face Hub: `python launch/push.py --help` (the same program as aae-push)."""

from aae_dist.cli.push import main

if __name__ == "__main__":
    main()
