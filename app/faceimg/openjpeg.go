package faceimg

// The decoder is OpenJPEG (libopenjp2, Debian's libopenjp2-7), called
// through cgo. The codestream is handed over in memory through an
// opj_stream whose callbacks read a C-side cursor over the caller's bytes;
// the bytes are only read during the one C call, as cgo's pointer rules
// require. OpenJPEG's messages are kept quiet; the first error message is
// returned for the error's text.

/*
#cgo pkg-config: libopenjp2
#include <openjpeg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const OPJ_BYTE *data;
	OPJ_SIZE_T len;
	OPJ_SIZE_T pos;
} fi_src;

static OPJ_SIZE_T fi_read(void *buf, OPJ_SIZE_T n, void *user) {
	fi_src *s = (fi_src *)user;
	if (s->pos >= s->len) {
		return (OPJ_SIZE_T)-1;
	}
	OPJ_SIZE_T left = s->len - s->pos;
	if (n > left) {
		n = left;
	}
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	return n;
}

static OPJ_OFF_T fi_skip(OPJ_OFF_T n, void *user) {
	fi_src *s = (fi_src *)user;
	if (n < 0 || (OPJ_SIZE_T)n > s->len - s->pos) {
		s->pos = s->len;
		return (OPJ_OFF_T)-1;
	}
	s->pos += (OPJ_SIZE_T)n;
	return n;
}

static OPJ_BOOL fi_seek(OPJ_OFF_T n, void *user) {
	fi_src *s = (fi_src *)user;
	if (n < 0 || (OPJ_SIZE_T)n > s->len) {
		return OPJ_FALSE;
	}
	s->pos = (OPJ_SIZE_T)n;
	return OPJ_TRUE;
}

typedef struct {
	char msg[200];
} fi_msgs;

static void fi_error(const char *m, void *client) {
	fi_msgs *e = (fi_msgs *)client;
	if (e->msg[0] == 0 && m != NULL) {
		strncpy(e->msg, m, sizeof e->msg - 1);
		e->msg[sizeof e->msg - 1] = 0;
	}
}

static void fi_quiet(const char *m, void *client) {
	(void)m;
	(void)client;
}

// fi_decode decodes data (a JP2 file when jp2, else a raw codestream)
// and returns the image, or NULL with the first error message in msg.
static opj_image_t *fi_decode(const unsigned char *data, size_t len, int jp2, char *msg, size_t msglen) {
	fi_src src = {data, len, 0};
	fi_msgs errs;
	errs.msg[0] = 0;
	opj_image_t *img = NULL;
	opj_codec_t *codec = opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
	if (codec == NULL) {
		strncpy(msg, "cannot create the decoder", msglen - 1);
		return NULL;
	}
	opj_set_error_handler(codec, fi_error, &errs);
	opj_set_warning_handler(codec, fi_quiet, NULL);
	opj_set_info_handler(codec, fi_quiet, NULL);
	opj_dparameters_t params;
	opj_set_default_decoder_parameters(&params);
	opj_stream_t *stream = NULL;
	if (!opj_setup_decoder(codec, &params) || !opj_decoder_set_strict_mode(codec, OPJ_TRUE)) {
		goto done;
	}
	stream = opj_stream_create(64 * 1024, OPJ_TRUE);
	if (stream == NULL) {
		goto done;
	}
	opj_stream_set_user_data(stream, &src, NULL);
	opj_stream_set_user_data_length(stream, (OPJ_UINT64)len);
	opj_stream_set_read_function(stream, fi_read);
	opj_stream_set_skip_function(stream, fi_skip);
	opj_stream_set_seek_function(stream, fi_seek);
	if (!opj_read_header(stream, codec, &img) || !opj_decode(codec, stream, img) || !opj_end_decompress(codec, stream)) {
		opj_image_destroy(img);
		img = NULL;
	}
done:
	if (img == NULL) {
		strncpy(msg, errs.msg[0] ? errs.msg : "decoding failed", msglen - 1);
		msg[msglen - 1] = 0;
	}
	if (stream != NULL) {
		opj_stream_destroy(stream);
	}
	opj_destroy_codec(codec);
	return img;
}
*/
import "C"

import (
	"fmt"
	"image"
	"strings"
	"unsafe"
)

// openjpeg decodes data (already checked by checkHeader) and converts the
// result while the C image is alive.
func openjpeg(data []byte, jp2 bool) (image.Image, error) {
	if len(data) == 0 {
		return nil, ErrCorrupt
	}
	var msg [256]C.char
	flag := C.int(0)
	if jp2 {
		flag = 1
	}
	img := C.fi_decode((*C.uchar)(unsafe.Pointer(&data[0])), C.size_t(len(data)), flag, &msg[0], C.size_t(len(msg)))
	if img == nil {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, strings.TrimSpace(C.GoString(&msg[0])))
	}
	defer C.opj_image_destroy(img)
	return convert(decoded(img))
}

// decoded copies what convert needs out of OpenJPEG's image; the sample
// slices still point into C memory and must not outlive the image.
func decoded(img *C.opj_image_t) raw {
	r := raw{
		x0: uint32(img.x0), y0: uint32(img.y0), x1: uint32(img.x1), y1: uint32(img.y1),
		space: colourOf(img.color_space),
	}
	n := int(img.numcomps)
	switch {
	case n > maxComponents:
		r.comps = make([]component, maxComponents+1) // convert refuses the count
		return r
	case n < 1 || img.comps == nil:
		return r // no components: refused too
	}
	for _, c := range unsafe.Slice(img.comps, n) {
		comp := component{
			w: int(c.w), h: int(c.h), prec: int(c.prec), signed: c.sgnd != 0, alpha: int(c.alpha),
			dx: int(c.dx), dy: int(c.dy),
		}
		if c.data != nil && comp.w > 0 && comp.h > 0 && comp.w <= MaxSide && comp.h <= MaxSide {
			comp.samples = unsafe.Slice((*int32)(unsafe.Pointer(c.data)), comp.w*comp.h)
		}
		r.comps = append(r.comps, comp)
	}
	return r
}

func colourOf(cs C.OPJ_COLOR_SPACE) colour {
	switch cs {
	case C.OPJ_CLRSPC_SRGB:
		return colourRGB
	case C.OPJ_CLRSPC_GRAY:
		return colourGray
	case C.OPJ_CLRSPC_SYCC:
		return colourYCC
	case C.OPJ_CLRSPC_EYCC:
		return colourEYCC
	case C.OPJ_CLRSPC_CMYK:
		return colourCMYK
	}
	return colourUnspecified
}
