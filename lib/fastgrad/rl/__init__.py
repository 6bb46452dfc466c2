"""Chapter 10: reinforcement learning on the 2x2 cube, graded against the exact optimum.

    cube     the pocket cube as a permutation group, batched (PocketCube, scramble, encode)
    bfs      breadth-first search over all 3,674,160 states: the optimal distance of any state
    replay   replay buffers: uniform, and prioritised with a sum-tree; n-step returns
    dqn      Q-networks (plain and dueling), double-DQN targets, the agent and its training loop
    evaluate success rates against scramble depth and true distance, moves above optimal
    draw     the 2-D net of a cube in matplotlib; explorer: the solve widget (ipywidgets)
"""
from . import bfs, cube, dqn, evaluate, replay
from .cube import PocketCube
from .dqn import DQNAgent, DQNConfig, QNetwork

__all__ = ["bfs", "cube", "dqn", "evaluate", "replay", "PocketCube", "DQNAgent", "DQNConfig", "QNetwork"]
