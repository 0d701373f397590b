"""Options of the flat-fading models: bad values refused in one line naming the option, by the
model's own check (no Sionna import) and by ``semcom-sim validate`` (exit code 2)."""
import subprocess
import sys
import textwrap

import pytest

from conftest import refused  # noqa: E402  (tests/ is on the path)
from semcom_sim.channel import CHANNELS

BAD = [
    ("rayleigh", {"fading": "block", "num_rx_ant": 0}, "num_rx_ant must be an integer in [1, 64], got 0"),
    ("rayleigh", {"fading": "block", "num_rx_ant": 2.5}, "num_rx_ant must be an integer"),
    ("rayleigh", {"fading": "block", "num_rx_ant": True}, "num_rx_ant must be an integer"),
    ("rayleigh", {"fading": "block", "csi": "blind"}, "csi must be 'perfect' or 'estimated', got 'blind'"),
    ("rayleigh", {"fading": "block", "csi": "estimated"}, "pilots must be an integer in [1, 1024]"),
    ("rayleigh", {"fading": "block", "csi": "estimated", "pilots": 0}, "pilots must be an integer"),
    ("rayleigh", {"fading": "fast", "csi": "estimated", "pilots": 2}, "csi: estimated needs fading: block"),
    ("rayleigh", {"fading": "block", "pilots": 2}, "pilots applies to csi: estimated only"),
    ("rayleigh", {"fading": "block", "pilot_snr_offset_db": 3.0}, "pilot_snr_offset_db applies to csi: estimated"),
    ("rayleigh", {"fading": "block", "csi": "estimated", "pilots": 2, "pilot_snr_offset_db": 40.0},
     "pilot_snr_offset_db must be a number in [-30, 30] dB"),
    ("rician", {"fading": "block", "k_factor_db": "high"}, "k_factor_db must be a number in [-50, 50] dB, got 'high'"),
    ("rician", {"fading": "block", "k_factor_db": 60.0}, "k_factor_db must be a number"),
    ("rician", {"fading": "block", "k_factor_db": float("nan")}, "k_factor_db must be a number"),
    ("rician", {"fading": "slow", "k_factor_db": 3.0}, "fading must be 'block' or 'fast', got 'slow'"),
]


@pytest.mark.parametrize("name,options,message", BAD)
def test_check_refuses_in_one_line_naming_the_option(name, options, message):
    with pytest.raises(ValueError) as info:
        CHANNELS[name].check(**options)
    assert message in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ValueError):  # the constructor refuses the same values
        CHANNELS[name](device="cpu", precision="single", **options)


def test_checking_options_imports_no_sionna():
    code = textwrap.dedent("""
        import sys
        from semcom_sim.channel import CHANNELS
        CHANNELS["rician"].check(k_factor_db=10.0, fading="block", num_rx_ant=2, csi="estimated", pilots=2)
        print("sionna" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("body,message", [
    ("model: rician\noptions: {fading: block}\n", "options: missing option 'k_factor_db'"),
    ("model: rician\noptions: {k_factor_db: 10, fading: block, num_rx_ant: -1}\n", "num_rx_ant must be an integer"),
    ("model: rayleigh\noptions: {fading: fast, csi: estimated, pilots: 2}\n", "csi: estimated needs fading: block"),
    ("model: rayleigh\noptions: {fading: block, doppler_hz: 30}\n", "options.doppler_hz: unknown option"),
])
def test_validate_refuses_a_bad_preset(tiny_raw, write_scenario, tmp_path, body, message):
    preset = tmp_path / "my_channel.yaml"
    preset.write_text("name: my_channel\n" + body)
    tiny_raw["channel"]["presets"] = ["awgn", str(preset)]
    line = refused(["validate", str(write_scenario(tiny_raw))])  # exit code 2, one line on stderr
    assert f"{preset}: " in line and message in line, line
