# Raspberry Pi Pico (RP2040) pin map. The Pico brings out three ADC inputs (GP26-28; the
# fourth, GP29, measures VSYS on the board), so the three slow signals that share GP28 go
# through a 74HC4051 multiplexer selected by GP22 (S0) and GP20 (S1), S2 tied low: battery
# current on channel 0, generator voltage on 1, output current on 2. The DMA sampler
# converts ADC0, 1 and 2 in that order: the three analog pins are fixed.
from firmware import hal

MAINS_ADC = 26  # ZMPT101B output, biased at mid-rail; 100k to ground (reads 0 unplugged)
BATTERY_ADC = 27  # battery bank through a divider (adc.battery_uv_per_count)
SHARED_ADC = 28  # 74HC4051 common
SHARED_SELECT = (22, 20)  # its S0 and S1
GEN_ZC = 21  # generator zero-cross optocoupler, rising edge once a cycle
ROOM_1WIRE = 16  # DS18B20 battery-room sensor, 4.7k to 3.3 V

OUTPUTS = {  # relay driver inputs (ULN2803 or relay modules)
    hal.OUT_XFER: 2,
    hal.OUT_MAINS_OPEN: 3,
    hal.OUT_GEN_CLOSE: 4,
    hal.OUT_GEN_RUN: 5,
    hal.OUT_GEN_START: 6,
    hal.OUT_GEN_PREHEAT: 7,
    hal.OUT_SHED: 8,
    hal.OUT_LOAD_OFF: 9,
}

INPUTS = {  # contacts to ground, internal pull-ups
    hal.IN_XFER_FB: 10,
    hal.IN_MAINS_FB: 11,
    hal.IN_GEN_FB: 12,
    hal.IN_ESTOP: 13,
    hal.IN_REMOTE_START: 14,
    hal.IN_LOW_FUEL: 15,
}
