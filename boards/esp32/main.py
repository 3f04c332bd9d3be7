# The firmware's loop on the ESP32 DevKitC. The board's /main.py is two lines:
#
#   from boards.esp32.main import run
#   run()
#
# The console is the USB serial line: Ctrl-C is an ordinary byte there (kbd_intr(-1)), so
# a stray one never stops the controller. The watchdog starts once the controller is up;
# from then on only the control loop feeds it.
import micropython

from boards.esp32.board import Board
from firmware.controller import Controller


def run():
    board = Board()
    ctrl = Controller(board)
    board.start_watchdog()
    micropython.kbd_intr(-1)
    while True:
        ctrl.step()
        ctrl.service()
