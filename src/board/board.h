/* board.h - boards: what turns a bare machine core (RAM, io spaces, engine)
 * into a computer.  A board creates and wires the devices, then loads the
 * guest the configuration names, as firmware would.  popek has one board,
 * the PC (pc.c). */
#ifndef POPEK_BOARD_H
#define POPEK_BOARD_H

struct machine;
struct machine_config;

/* Create and wire the PC's devices on m.  -1 with fail() on error, -2
 * when the user's input is bad (a disk image or --net spec: status 2). */
int pc_board_create(struct machine *m);
/* Record a --disk, --net or --rng option in cfg (opt is the long option's
 * name); checked when the board is created.  -1 with fail() if bad. */
int pc_board_option(struct machine_config *cfg, const char *opt,
                    const char *arg);
/* Load the kernel (and initrd, command line) of m->cfg into guest RAM and
 * set the vCPU's entry state.  -1 with fail() naming the file on error. */
int pc_board_load(struct machine *m);
/* Check what the board's devices take from a configuration (the IDE
 * images) before any machine exists: -1 with fail() if something is bad. */
int pc_board_check_config(const struct machine_config *cfg);

#endif
