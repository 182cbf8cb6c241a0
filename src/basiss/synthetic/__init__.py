"""The embedded sample: a synthetic SpaceNet-3-like road data set, deterministic from a seed."""

from basiss.synthetic.sample import write_sample

__all__ = ["write_sample"]
