# The firmware's loop on the Raspberry Pi Pico (boards/mcu.py: run). The board's /main.py
# is two lines:
#
#   from boards.rp2040.main import run
#   run()
import machine

from boards import mcu
from boards.rp2040.board import Board


def run():
    mcu.run(Board(), machine.reset)
