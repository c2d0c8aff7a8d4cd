"""``python -m toxft.demo``: (re)write the bundled synthetic data set."""

from toxft.demo.world import write_demo_data

print(write_demo_data())
