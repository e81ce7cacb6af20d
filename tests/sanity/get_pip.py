"""Stand-in for get-pip.py (its host is unreachable here): install pip with ensurepip, then run
pip install with the arguments get-pip was given (without the options only get-pip knows)."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade'])
if args:
    subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--upgrade'] + args)
