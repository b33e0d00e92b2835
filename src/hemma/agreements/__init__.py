"""The agreement with the patient (överenskommelse): what they have in their hand."""
