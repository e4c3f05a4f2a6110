// ringpool_mpi_pingpong [samples] [probe]: the round-trip floor of Open MPI's transport
// between ranks 0 and 1 (48-byte messages), the figure docs/cluster.md sets cluster::Pool's
// round trip against. With "probe", both sides poll MPI_Iprobe before MPI_Recv, as
// ringpool's progress loops do. Run: mpirun -np 2 ringpool_mpi_pingpong 20000 probe
// (add --mca mpi_yield_when_idle 1 to see what Open MPI's yielding costs).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

void wait_for_message() {
  int flag = 0;
  MPI_Status status;
  while (flag == 0) MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &status);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 2) {
    if (rank == 0) std::fprintf(stderr, "ringpool_mpi_pingpong: run it under mpirun -np 2\n");
    MPI_Finalize();
    return 2;
  }
  const int samples = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20000;
  const bool probe = argc > 2 && std::strcmp(argv[2], "probe") == 0;
  constexpr int kWarmUp = 1000;
  char buffer[64] = {};
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(samples));
  for (int i = 0; i < samples + kWarmUp; ++i) {
    if (rank == 0) {
      const double start = MPI_Wtime();
      MPI_Send(buffer, 48, MPI_BYTE, 1, 3, MPI_COMM_WORLD);
      if (probe) wait_for_message();
      MPI_Recv(buffer, 64, MPI_BYTE, 1, 4, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      if (i >= kWarmUp) us.push_back((MPI_Wtime() - start) * 1e6);
    } else if (rank == 1) {
      if (probe) wait_for_message();
      MPI_Recv(buffer, 64, MPI_BYTE, 0, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(buffer, 48, MPI_BYTE, 0, 4, MPI_COMM_WORLD);
    }
  }
  if (rank == 0) {
    std::sort(us.begin(), us.end());
    std::printf("MPI ping-pong, 48 B, %d samples%s: p10 %.2f us, p50 %.2f us, p90 %.2f us\n",
                samples, probe ? ", MPI_Iprobe polling" : "", us[us.size() / 10], us[us.size() / 2],
                us[us.size() * 9 / 10]);
  }
  MPI_Finalize();
  return 0;
}
