"""Process creation: the runtime (parent) side and the container-side stages."""
