# Plots for tools/bench, run inside a results directory (report.py writes the .dat files and
# plot-vars.gp with the column counts).
load 'plot-vars.gp'
set terminal pngcairo size 900,560 noenhanced font ",10"
set key outside right top
set grid
set datafile missing 'NaN'

set output 'throughput.png'
set title 'Echo round trips per second against connections (16 B, closed loop; median of rounds)'
set xlabel 'concurrent connections (all active)'
set ylabel 'round trips / s'
set logscale x
set format y '%.0s%c'
plot for [i=2:ncols_t] 'throughput.dat' using 1:i with linespoints lw 2 pt 7 title columnheader(i)

set output 'idle-cost.png'
set title 'Server CPU per round trip: 100 active connections among idle ones'
set xlabel 'registered connections (100 active + idle)'
set ylabel 'server CPU µs / round trip'
set format y '%g'
plot for [i=2:ncols_i] 'idle.dat' using 1:i with linespoints lw 2 pt 7 title columnheader(i)
