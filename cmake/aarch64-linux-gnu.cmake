# aarch64-linux-gnu.cmake: cross-builds the awqc runtime for 64-bit ARM Linux
# boards (Jetson Orin, Raspberry Pi 4/5, Graviton) on an x86-64 Debian host:
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# Needs Debian's gcc-aarch64-linux-gnu and the arm64 (multiarch) -dev packages
# of the runtime's libraries; scripts/setup.sh --cross installs them.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# Headers and libraries come from the cross sysroot and the arm64 multiarch
# folders only, never from the host's x86-64 ones; programs (flex, bison,
# pkg-config) are the host's.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Lets ctest and add_custom_command run the built programs under user-mode
# emulation (Debian qemu-user), which finds the arm64 loader and libraries in
# the multiarch folders.
find_program(AWQC_QEMU_AARCH64 qemu-aarch64)
if(AWQC_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${AWQC_QEMU_AARCH64})
endif()
