# ESP32 DevKitC (ESP32-WROOM-32) pin map. Analog inputs are on ADC1 only (ADC2 cannot be
# read while WiFi is on), which takes every ADC1 pin the module brings out; the flash pins
# (6-11) and the strapping pins 0, 2 and 12 are left alone, so the board boots whatever
# the relays and contacts do. 5 and 15 are strapping pins that boot right when high or
# when left to their pull-ups (see each).
from firmware import hal

MAINS_ADC = 36  # ZMPT101B output, biased at mid-rail; 100k to ground (reads 0 unplugged)
BATTERY_ADC = 39  # battery bank through a divider (adc.battery_uv_per_count)
CURRENT_ADC = 34  # hall current sensor on the battery lead, 0 A at mid-rail
GEN_ADC = 35  # generator voltage transducer, 0-3.3 V DC for 0-300 V RMS
OUTPUT_ADC = 33  # output current transducer, 0-3.3 V DC for its RMS current
GEN_ZC = 32  # generator zero-cross optocoupler, rising edge once a cycle
ROOM_1WIRE = 5  # DS18B20 battery-room sensor, 4.7k to 3.3 V (which also holds this
# strapping pin high at boot, as it must be)

OUTPUTS = {  # relay driver inputs (ULN2803 or relay modules)
    hal.OUT_XFER: 25,
    hal.OUT_MAINS_OPEN: 26,
    hal.OUT_GEN_CLOSE: 27,
    hal.OUT_GEN_RUN: 14,
    hal.OUT_GEN_START: 13,
    hal.OUT_GEN_PREHEAT: 4,
    hal.OUT_SHED: 16,
    hal.OUT_LOAD_OFF: 17,
}

INPUTS = {  # contacts to ground, internal pull-ups
    hal.IN_XFER_FB: 18,
    hal.IN_MAINS_FB: 19,
    hal.IN_GEN_FB: 21,
    hal.IN_ESTOP: 22,
    hal.IN_REMOTE_START: 23,
    hal.IN_LOW_FUEL: 15,  # strapping pin: a switch closed at boot only silences the boot
}  # ROM's log (pulled up inside, as the pin is at reset)
