"""What the launch scripts share: user errors become one line on stderr and exit status 2, not a traceback."""

import os
import sys

from .errors import AAEError


def run(main):
    try:
        main()
    except AAEError as error:
        if os.environ.get("RANK", "0") == "0":  # under DDP every rank fails alike: say it once
            print(f"{os.path.basename(sys.argv[0])}: error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
