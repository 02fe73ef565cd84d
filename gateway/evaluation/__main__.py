"""``python -m gateway.evaluation --zygote FD``: the process evaluation workers are forked from."""

import sys

from gateway.evaluation.process import zygote_main

if len(sys.argv) == 3 and sys.argv[1] == "--zygote":
    zygote_main(int(sys.argv[2]))
else:
    sys.exit("usage: python -m gateway.evaluation --zygote FD (started by the gateway)")
