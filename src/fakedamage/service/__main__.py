"""``python -m fakedamage.service --model model.onnx``: same as ``fakedamage serve``."""

import sys

from .cli import main

sys.exit(main())
