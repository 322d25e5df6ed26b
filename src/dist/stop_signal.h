// Stop requests: SLURM sends SIGUSR1 (via --signal=USR1@<s>) or SIGTERM before a time limit or
// preemption. The handler only sets a flag; the trainer polls it between steps, agrees across
// ranks, checkpoints and exits cleanly.
#pragma once

namespace omnitune {

// Installs handlers for SIGTERM, SIGUSR1 and SIGINT (a second SIGINT kills the process as usual).
void stop_signal_install();

// True once one of those signals arrived (async-signal-safe flag).
bool stop_requested();

// The signal number that requested the stop, 0 if none.
int stop_signal_number();

// Clears the flag (tests, and after a checkpoint that does not exit).
void stop_signal_reset();

}  // namespace omnitune
