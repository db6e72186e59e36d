"""The pure core, stdlib only: the only part of controlplane that the node agent (workers/) may
import."""
