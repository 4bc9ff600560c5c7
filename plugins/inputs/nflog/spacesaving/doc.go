// Package spacesaving is a bounded-memory heavy-hitter summary: the weighted
// Space-Saving algorithm of Metwally, Agrawal and El Abbadi, "Efficient
// Computation of Frequent and Top-k Elements in Data Streams" (ICDT 2005).
//
// A [Summary] keeps a fixed number m of counters (its capacity). A key that is
// monitored adds its weight to its counter; a key that is not, when all m
// counters are taken, replaces the counter with the smallest count c_min and
// starts from c_min + weight, remembering c_min as its maximum over-count.
// With N the total weight added since the last [Summary.Reset]:
//
//   - every counter's Count over-estimates its key's true weight by at most
//     its Error, and Error <= c_min <= N/m;
//   - so every key whose true weight exceeds N/m is monitored, and the
//     summary finds the top k keys whenever the k-th largest true weight
//     exceeds N/m (in skewed streams, such as Zipf-distributed traffic, far
//     fewer counters suffice; see [DefaultCapacity]);
//   - the counts add up exactly to N, so "everything else" is N minus the
//     reported counts, with no loss.
//
// Memory is m counters and a map of m keys, whatever the number of distinct
// keys; Add is O(log m) and does not allocate.
//
// Each counter also carries a second, unranked dimension, aux (bytes when
// ranking by packets, packets when ranking by bytes), attributed the same
// way so that it too adds up exactly to its total.
package spacesaving
