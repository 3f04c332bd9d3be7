# The firmware's loop on the ESP32 DevKitC (boards/mcu.py: run). The board's /main.py is two lines:
#
#   from boards.esp32.main import run
#   run()
import machine

from boards import mcu
from boards.esp32.board import Board


def run():
    mcu.run(Board(), machine.reset)
