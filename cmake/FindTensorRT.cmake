# FindTensorRT.cmake — TensorRT headers (and, for other users, libraries).
#
# The shim needs only the headers: it opens TensorRT with dlopen at run
# time (csrc/src/trtshim.cpp), so TensorRT_LIBS_FOUND is informational.
#
# Where it looks:
#   TENSORRT_ROOT (CMake cache variable, else the environment variable of the
#   same name): <root>/include + <root>/lib (tarball layout) or <root> itself.
#   When a root is given, ONLY the root is searched, so that a run pointed at
#   TensorRT 11 headers never silently picks up a system TensorRT 10.
#   Otherwise the standard places: /usr/include/x86_64-linux-gnu +
#   /usr/lib/x86_64-linux-gnu (NGC images, Debian/Ubuntu packages),
#   /usr/local/tensorrt, /opt/tensorrt, then CMake's default prefixes.
#
# Results:
#   TensorRT_FOUND           headers found (NvInfer.h and NvOnnxParser.h)
#   TensorRT_LIBS_FOUND      libnvinfer and libnvonnxparser found as well
#   TensorRT_INCLUDE_DIRS, TensorRT_LIBRARIES
#   TensorRT_VERSION         "M.m.p" from NvInferVersion.h
#   TensorRT_VERSION_MAJOR / _MINOR / _PATCH
# Imported targets:
#   TensorRT::headers        INTERFACE, SYSTEM include dirs (so -Werror on our
#                            code is not tripped by deprecations inside them)
#   TensorRT::nvinfer, TensorRT::nvonnxparser (only when the libraries exist)

if(NOT DEFINED TENSORRT_ROOT AND DEFINED ENV{TENSORRT_ROOT})
  set(TENSORRT_ROOT "$ENV{TENSORRT_ROOT}")
endif()
set(TENSORRT_ROOT "${TENSORRT_ROOT}" CACHE PATH "TensorRT install or header tree (contains include/NvInfer.h)")

# find_path/find_library cache their answers; forget them when the root
# changes so a reconfigure with another root is honest.
if(NOT "${TENSORRT_ROOT}" STREQUAL "${_TensorRT_SEARCHED_ROOT}")
  foreach(v TensorRT_INCLUDE_DIR TensorRT_ONNX_INCLUDE_DIR TensorRT_nvinfer_LIBRARY TensorRT_nvonnxparser_LIBRARY)
    unset(${v} CACHE)
  endforeach()
  set(_TensorRT_SEARCHED_ROOT "${TENSORRT_ROOT}" CACHE INTERNAL "root of the last TensorRT search")
endif()

if(TENSORRT_ROOT)
  set(_trt_inc_hints "${TENSORRT_ROOT}/include" "${TENSORRT_ROOT}")
  set(_trt_lib_hints "${TENSORRT_ROOT}/lib" "${TENSORRT_ROOT}/lib64" "${TENSORRT_ROOT}/targets/x86_64-linux-gnu/lib"
                     "${TENSORRT_ROOT}/targets/aarch64-linux-gnu/lib")
  set(_trt_no_default NO_DEFAULT_PATH)
else()
  set(_trt_inc_hints
      /usr/include/x86_64-linux-gnu /usr/include/aarch64-linux-gnu
      /usr/local/tensorrt/include /opt/tensorrt/include)
  set(_trt_lib_hints
      /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu
      /usr/local/tensorrt/lib /opt/tensorrt/lib)
  set(_trt_no_default "")
endif()

find_path(TensorRT_INCLUDE_DIR NvInfer.h PATHS ${_trt_inc_hints} ${_trt_no_default})
# TensorRT <= 10.13 source trees keep the parser header elsewhere
# (parsers/onnx); installs and tarballs put it next to NvInfer.h.
find_path(TensorRT_ONNX_INCLUDE_DIR NvOnnxParser.h
          PATHS ${_trt_inc_hints} "${TENSORRT_ROOT}/parsers/onnx" ${_trt_no_default})
find_library(TensorRT_nvinfer_LIBRARY nvinfer PATHS ${_trt_lib_hints} ${_trt_no_default})
find_library(TensorRT_nvonnxparser_LIBRARY nvonnxparser PATHS ${_trt_lib_hints} ${_trt_no_default})

unset(TensorRT_VERSION)
if(TensorRT_INCLUDE_DIR AND EXISTS "${TensorRT_INCLUDE_DIR}/NvInferVersion.h")
  file(READ "${TensorRT_INCLUDE_DIR}/NvInferVersion.h" _trt_ver_h)
  foreach(part MAJOR MINOR PATCH)
    # Up to 10.15: "#define NV_TENSORRT_MAJOR 10"; from 10.16: the macro
    # refers to TRT_MAJOR_ENTERPRISE, which holds the number.
    if(_trt_ver_h MATCHES "#define[ \t]+NV_TENSORRT_${part}[ \t]+([0-9]+)")
      set(TensorRT_VERSION_${part} "${CMAKE_MATCH_1}")
    elseif(_trt_ver_h MATCHES "#define[ \t]+TRT_${part}_ENTERPRISE[ \t]+([0-9]+)")
      set(TensorRT_VERSION_${part} "${CMAKE_MATCH_1}")
    else()
      set(TensorRT_VERSION_${part} "")
    endif()
  endforeach()
  if(NOT TensorRT_VERSION_MAJOR STREQUAL "")
    set(TensorRT_VERSION "${TensorRT_VERSION_MAJOR}.${TensorRT_VERSION_MINOR}.${TensorRT_VERSION_PATCH}")
  endif()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(TensorRT
  REQUIRED_VARS TensorRT_INCLUDE_DIR TensorRT_ONNX_INCLUDE_DIR
  VERSION_VAR TensorRT_VERSION)

set(TensorRT_LIBS_FOUND FALSE)
if(TensorRT_FOUND)
  set(TensorRT_INCLUDE_DIRS "${TensorRT_INCLUDE_DIR}")
  if(NOT TensorRT_ONNX_INCLUDE_DIR STREQUAL TensorRT_INCLUDE_DIR)
    list(APPEND TensorRT_INCLUDE_DIRS "${TensorRT_ONNX_INCLUDE_DIR}")
  endif()
  if(NOT TARGET TensorRT::headers)
    add_library(TensorRT::headers INTERFACE IMPORTED)
    # Imported targets' include dirs are SYSTEM (-isystem) by default.
    set_target_properties(TensorRT::headers PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${TensorRT_INCLUDE_DIRS}")
  endif()
  if(TensorRT_nvinfer_LIBRARY AND TensorRT_nvonnxparser_LIBRARY)
    set(TensorRT_LIBS_FOUND TRUE)
    set(TensorRT_LIBRARIES "${TensorRT_nvinfer_LIBRARY}" "${TensorRT_nvonnxparser_LIBRARY}")
    foreach(lib nvinfer nvonnxparser)
      if(NOT TARGET TensorRT::${lib})
        add_library(TensorRT::${lib} UNKNOWN IMPORTED)
        set_target_properties(TensorRT::${lib} PROPERTIES
          IMPORTED_LOCATION "${TensorRT_${lib}_LIBRARY}"
          INTERFACE_LINK_LIBRARIES TensorRT::headers)
      endif()
    endforeach()
  endif()
endif()

mark_as_advanced(TensorRT_INCLUDE_DIR TensorRT_ONNX_INCLUDE_DIR TensorRT_nvinfer_LIBRARY TensorRT_nvonnxparser_LIBRARY)
