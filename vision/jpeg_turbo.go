//go:build cgo && !noturbojpeg

package vision

/*
#cgo LDFLAGS: -lturbojpeg
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

// One call per image keeps cgo crossings to two. Returns 0 or -1; errors
// are read with tjGetErrorStr2 before the handle is destroyed.
static int trt_jpeg_header(const unsigned char* buf, unsigned long size, int* w, int* h, char* err, int errlen) {
	tjhandle t = tjInitDecompress();
	if (!t) { snprintf(err, errlen, "%s", tjGetErrorStr2(NULL)); return -1; }
	int subsamp, cs;
	int rc = tjDecompressHeader3(t, buf, size, w, h, &subsamp, &cs);
	if (rc != 0) snprintf(err, errlen, "%s", tjGetErrorStr2(t));
	tjDestroy(t);
	return rc;
}

static int trt_jpeg_decode(const unsigned char* buf, unsigned long size, unsigned char* dst, int w, int h, char* err, int errlen) {
	tjhandle t = tjInitDecompress();
	if (!t) { snprintf(err, errlen, "%s", tjGetErrorStr2(NULL)); return -1; }
	// LIMITSCANS refuses progressive files of more than 500 scans: a few
	// kilobytes of them can otherwise keep a core busy for minutes.
	int rc = tjDecompress2(t, buf, size, dst, w, w * 3, h, TJPF_RGB, TJFLAG_LIMITSCANS);
	// Warnings such as extraneous bytes leave a good image; a truncated
	// file ("Premature end of JPEG file") leaves grey rows, so it fails.
	if (rc != 0 && tjGetErrorCode(t) == TJERR_WARNING && !strstr(tjGetErrorStr2(t), "Premature end")) rc = 0;
	if (rc != 0) snprintf(err, errlen, "%s", tjGetErrorStr2(t));
	tjDestroy(t);
	return rc;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// JPEGDecoder names the JPEG implementation compiled in.
const JPEGDecoder = "libjpeg-turbo"

func jpegHeader(data []byte) (int, int, error) {
	var w, h C.int
	var errbuf [256]C.char
	if C.trt_jpeg_header((*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)), &w, &h, &errbuf[0], 256) != 0 {
		return 0, 0, fmt.Errorf("%w: jpeg: %s", ErrCorruptImage, C.GoString(&errbuf[0]))
	}
	return int(w), int(h), nil
}

// decodeJPEG decodes with libjpeg-turbo, downscaling by 1/2, 1/4 or 1/8 in
// the DCT domain (much cheaper than decoding then resizing) when the result
// stays at least as large as need(w, h) says.
func decodeJPEG(data []byte, limit int64, need func(w, h int) (int, int)) (*Image, error) {
	w, h, err := jpegHeader(data)
	if err != nil {
		return nil, err
	}
	if err := checkPixels(w, h, limit); err != nil {
		return nil, err
	}
	dw, dh := w, h
	if tw, th := need(w, h); tw > 0 && th > 0 {
		for _, denom := range []int{8, 4, 2} {
			sw, sh := (w+denom-1)/denom, (h+denom-1)/denom
			if sw >= tw && sh >= th {
				dw, dh = sw, sh
				break
			}
		}
	}
	img := &Image{Pix: newPix(dw * dh * 3), W: dw, H: dh, SrcW: w, SrcH: h}
	var errbuf [256]C.char
	if C.trt_jpeg_decode((*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)),
		(*C.uchar)(unsafe.Pointer(&img.Pix[0])), C.int(dw), C.int(dh), &errbuf[0], 256) != 0 {
		return nil, fmt.Errorf("%w: jpeg: %s", ErrCorruptImage, C.GoString(&errbuf[0]))
	}
	return img, nil
}
