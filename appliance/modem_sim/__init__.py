"""The V.253 voice-modem simulator: product code behind the demo and ``callbox simulate``.

``ModemSimulator`` serves a Conexant CX93001 or USR5637 personality on a pseudo-terminal;
``SimCall`` and its steps script the caller; ``main_modem_sim`` runs one standalone.
"""

from appliance.modem_sim.caller import (AwaitAnswer, HangUp, Press, Say, SimCall,
                                        SimCallHandle, Talk, Tone, Wait)
from appliance.modem_sim.cli import main_modem_sim
from appliance.modem_sim.simulator import ModemSimulator

__all__ = ["ModemSimulator", "SimCall", "SimCallHandle", "Wait", "Press", "Say", "Tone",
           "AwaitAnswer", "Talk", "HangUp", "main_modem_sim"]
