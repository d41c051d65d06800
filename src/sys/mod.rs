//! RAII guards for loop devices, mounts and work directories. TODO(helper).
