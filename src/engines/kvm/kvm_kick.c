/* kvm_kick.c - making a running KVM_RUN return, race-free, from any thread
 * (the I/O thread on console input or a timer deadline, or a device that
 * stops the machine).  SIGUSR1 stays blocked in the vCPU thread except
 * inside KVM_RUN, where KVM_SET_SIGNAL_MASK unblocks it: a kick that
 * arrives before KVM_RUN stays pending and makes the next KVM_RUN return
 * -EINTR at once; one that arrives during KVM_RUN makes it exit.  After the
 * exit the pending signal is consumed with sigtimedwait (as QEMU once did
 * in kvm_eat_signals), so exactly one KVM_RUN is cut short per kick. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "../../core/machine.h"
#include "kvm_priv.h"

#define KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
    (void)sig; /* only there so that the signal interrupts KVM_RUN */
}

int kvm_kick_init(struct kvm_engine *k)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler;
    sigemptyset(&sa.sa_mask);
    if (sigaction(KICK_SIGNAL, &sa, NULL) < 0)
        return fail("sigaction(SIGUSR1): %s", strerror(errno));

    sigset_t block, cur;
    sigemptyset(&block);
    sigaddset(&block, KICK_SIGNAL);
    int err = pthread_sigmask(SIG_BLOCK, &block, &cur);
    if (err)
        return fail("pthread_sigmask: %s", strerror(err));
    kvm_kick_drain(); /* a stale kick from an earlier VM */

    /* The mask in force inside KVM_RUN: the thread's mask minus SIGUSR1.
     * The kernel's sigset is 64 bits wide, glibc's sigset_t is larger. */
    sigdelset(&cur, KICK_SIGNAL);
    struct {
        struct kvm_signal_mask hdr;
        uint8_t bits[8];
    } mask;
    mask.hdr.len = 8;
    memcpy(mask.bits, &cur, 8);
    if (ioctl(k->vcpu_fd, KVM_SET_SIGNAL_MASK, &mask) < 0)
        return fail("KVM_SET_SIGNAL_MASK: %s", strerror(errno));
    k->vcpu_thread = pthread_self();
    atomic_store(&k->have_thread, true);
    return 0;
}

void kvm_kick_drain(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, KICK_SIGNAL);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) == KICK_SIGNAL) {
    }
}

void kvm_kick(struct machine *m)
{
    struct kvm_engine *k = KVM_OF(m);
    if (k && atomic_load(&k->have_thread))
        pthread_kill(k->vcpu_thread, KICK_SIGNAL);
}
