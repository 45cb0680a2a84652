#!/bin/sh
# run.sh - the guest side of popek-bench's macrobenchmarks (--macro), run
# by the Debian image's init (scripts/rootfs/popek-init) from the bench
# volume (/dev/vdb, an ext4 image popek-bench makes for each boot and
# mounts at /run/bench).  The volume holds this script, the static i386
# helpers built by make (forkwait, diskio, netsink) and the compile
# project (bench/macro/gen_compile.py).  /dev/vdc is a raw scratch disk.
# Each step prints lines that bench/driver/bench_macro.c reads:
#   BENCH name=forkwait ops=N cycles=C            (rdtsc, as in the initramfs)
#   MACRO-BEGIN compile / MACRO-END compile status=S check=X
#                                                 (timed by the host)
#   BENCH name=disk_MODE ops=N cycles=C bytes=B secs=S   (diskio)
#   MACRO-SERVING                                 (httpd on :80, netsink
#                                                 on :5001; the host loads
#                                                 them, then connects to :81)
#   MACRO-DONE
# Kernel command line: popek.n=N (forkwait count), popek.disk_secs=S.
B=/run/bench
n=2000
disk_secs=3
for arg in $(cat /proc/cmdline); do
    case "$arg" in
    popek.n=*) n=${arg#popek.n=} ;;
    popek.disk_secs=*) disk_secs=${arg#popek.disk_secs=} ;;
    esac
done
echo "MACRO-START $(uname -r) $(gcc -dumpfullversion) $(nproc) cpu"

$B/forkwait "$n"

# compile: a clean build of the generated project with gcc and make, on
# the bench volume (ext4 on virtio-blk), synced; then the program runs and
# prints its checksum, which the host compares with its own build's.
cd $B/compile
sync
echo 3 > /proc/sys/vm/drop_caches
echo "MACRO-BEGIN compile"
make -s CC=gcc >/tmp/make.log 2>&1
st=$?
sync
check=$(./compiled 2>/dev/null)
echo "MACRO-END compile status=$st check=${check:-none}"
[ $st = 0 ] || tail -n 5 /tmp/make.log
cd /

# disk: O_DIRECT on the raw scratch disk.
for mode in seqwrite seqread randwrite randread; do
    $B/diskio /dev/vdc "$mode" "$disk_secs"
done

# web server and network sink, loaded from the host through hostfwd.
mkdir -p /tmp/www
cp $B/www/* /tmp/www/
busybox httpd -p 80 -h /tmp/www
$B/netsink 5001 &
sink=$!
echo "MACRO-SERVING"
busybox nc -l -p 81 >/dev/null
kill $sink 2>/dev/null
echo "MACRO-DONE"
