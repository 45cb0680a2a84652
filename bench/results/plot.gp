# popek bench: the nanobenchmark figure (run: gnuplot bench/results/plot.gp)
set terminal pngcairo size 1400,1000 font 'DejaVu Sans,11' noenhanced
set output 'bench/results/results.png'
set datafile missing '?'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [1:*]
set grid ytics
set key outside right top vertical
set ylabel 'cycles per op (log scale)'
set xtics scale 0
set multiplot layout 2,1
set title "popek bench, 2026-11-21 15:59 UTC: median of 5 runs (missing bar = not runnable or failed: see results.md)\nAMD EPYC, 2 CPUs, TSC 2596 MHz, Linux 6.18.44-fc-v657, /dev/kvm = kvm_pvm"
plot 'bench/results/plot.dat' using 2:xtic(1) title columnheader(2) lc rgb '#7b3294', \
     'bench/results/plot.dat' using 3:xtic(1) title columnheader(3) lc rgb '#1b9e77', \
     'bench/results/plot.dat' using 4:xtic(1) title columnheader(4) lc rgb '#d95f02', \
     'bench/results/plot.dat' using 5:xtic(1) title columnheader(5) lc rgb '#e7298a', \
     'bench/results/plot.dat' using 6:xtic(1) title columnheader(6) lc rgb '#e6ab02', \
     'bench/results/plot.dat' using 7:xtic(1) title columnheader(7) lc rgb '#377eb8'
set title 'Adams & Agesen, ASPLOS 2006 (Pentium 4; VMware software VMM and hardware-assisted VMM): cycles per op'
plot 'bench/results/plot_paper.dat' using 2:xtic(1) title columnheader(2) lc rgb '#7b3294', \
     'bench/results/plot_paper.dat' using 3:xtic(1) title columnheader(3) lc rgb '#e7298a', \
     'bench/results/plot_paper.dat' using 4:xtic(1) title columnheader(4) lc rgb '#1b9e77'
unset multiplot
